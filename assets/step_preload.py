"""Loaded once in the step executor's forkserver, so that every forked step worker starts warm.

Each step of a run is a process forked from the forkserver (see `definitions.executor`). Whatever
the forkserver has not loaded, every step loads again. Profiled with py-spy over a demo run, half
of the step workers' CPU went to imports done in each worker — the Dagster instance's storage
(`dagster._core.storage` with SQLAlchemy and Alembic, ~0.7 s a step), the connectors and what they
import (httpx, pandas, holidays) — and botocore parsing its service models for each new client.
On a 2-core machine that is seconds per request on the critical path.

So this module imports the instance's configured classes (named in `$DAGSTER_HOME/dagster.yaml`,
read but not connected: no SQLite or PostgreSQL connection may cross a fork) and the path library
the instance's state storage scans entry points for (~0.3 s a worker), every configured system's
connector module, and the package and delivery modules (the letter's PDF with WeasyPrint and its
seal with pyHanko among them); fills the caches of the controllers'
profiles and the letter's strings and templates (YAML parsing, ~0.1 s a step); and creates
(without any network call) one S3 and one KMS client on boto3's default session and one through the
recordings connector's shared loader, so that the forked workers find the service models parsed.

Warming is best effort: a failure here only costs speed, never a run, so it is swallowed (the
forkserver itself would otherwise die: it only tolerates ImportError).
"""

from __future__ import annotations

import contextlib
import importlib
import os

import boto3

from connectors.registry import systems

STEP_MODULES = (
    "dsar_pipeline.collection.collect", "dsar_pipeline.review.findings", "dsar_pipeline.delivery.send",
    "dsar_pipeline.delivery.notify",
    "dsar_pipeline.package.assemble", "dsar_pipeline.export.portability", "dsar_pipeline.report.render",
    "dsar_pipeline.export.consumption", "dsar_pipeline.export.redaction", "dsar_pipeline.formats.cdoc",
    "dsar_pipeline.letter", "dsar_pipeline.audit.trail", "dsar_pipeline.signatures.verification",
    "dsar_pipeline.letter.seal", "weasyprint",  # the letter's PDF and its seal: ~0.9 s of imports a step
    "pandas", "pyarrow.parquet", "pyarrow.csv", "httpx", "holidays", "upath",
)


def _instance_classes() -> None:
    from dagster._core.instance.ref import InstanceRef

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    ref = InstanceRef.from_dir(home)
    for data in (ref.storage_data, ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data,
                 ref.compute_logs_data, ref.run_coordinator_data, ref.run_launcher_data, ref.secrets_loader_data,
                 ref.defs_state_storage_data):
        if data is not None:
            importlib.import_module(data.module_name)
    importlib.import_module("dagster._core.storage.sqlite_storage")


def _paths() -> None:
    from upath import UPath

    UPath("/")  # builds the implementation registry from every installed distribution's entry points


def _caches() -> None:
    from dsar_pipeline.letter.facts import load_facts
    from dsar_pipeline.letter.words import strings
    from dsar_pipeline.profiles import list_controllers

    for controller in list_controllers():
        load_facts(controller)
    for language in ("et", "lv", "ru", "en"):
        strings(language)
    from dsar_pipeline.letter import render
    from dsar_pipeline.report import render as report

    render._environment().get_template("letter.html.j2")
    report._environment().get_template("report.html.j2")
    from connectors.http import tls_context

    tls_context()  # the CA bundle, loaded once for every client a step builds


def _service_models() -> None:
    unused = "warm-up"  # the clients are never called: no credential is needed or given
    for service in ("s3", "kms"):
        boto3.client(service, region_name="eu-north-1", aws_access_key_id=unused, aws_secret_access_key=unused)
    from connectors.recordings.store import S3Settings, make_client

    make_client(S3Settings(bucket=unused, region="eu-north-1", access_key_id=unused, secret_access_key=unused))


def _pdf_printer() -> None:
    """One small letter-like page printed: WeasyPrint's first print in a process costs ~0.9 s more than the
    next (fontconfig's font list, Pango's font map, the user-agent stylesheet); printed here, every
    forked step starts past it. No personal value: a fixed text."""
    from dsar_pipeline.letter.pdf import render_letter_pdf

    render_letter_pdf('<html lang="et"><head><title>warm-up</title></head><body><h2>Õigus — Право</h2>'
                      '<p>Šis ir ļoti īss teksts. Это короткий текст.</p></body></html>')


def warm() -> None:
    for entry in systems().values():
        with contextlib.suppress(Exception):
            entry.connector_class()
    for name in STEP_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for step in (_instance_classes, _paths, _caches, _service_models, _pdf_printer):
        with contextlib.suppress(Exception):
            step()


warm()
