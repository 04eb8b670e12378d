"""`dsar cluster up|down` (`make cluster`, `make cluster-down`): the production topology on this machine.

Every part is a process of its own, as on separate hosts, talking to the others only over the wire:

- instance storage: PostgreSQL at 127.0.0.1:5432, database `dsar_cluster` (created afresh by `up`), with the
  production instance configuration itself (`deploy/dagster.yaml`: queued runs and their limits, pools,
  run monitoring, no compute logs);
- the code location as a gRPC server (`dagster code-server start -m assets.definitions`);
- `dagster-daemon` (the inbox sensor, the run queue, run monitoring) and the webserver (the UI);
- `DSAR_CLUSTER_WORKERS` Celery workers (default 2; `DSAR_CLUSTER_WORKER_SLOTS` processes each, default 4),
  each in its own working directory, temporary directory and local work folder;
- the sandbox playing the other organisations' systems; its controller's S3 is the work store
  (`DSAR_ENV=cluster`), RabbitMQ at 127.0.0.1:5672 the broker and Redis at 127.0.0.1:6379 the result backend.

`up` writes `.cluster/cluster.env` (0600: the settings every part runs with, which `dsar demo --cluster`
reads) and `.cluster/processes.json` (what it started: each process's group). `down` stops exactly those
process groups and nothing else. Logs: `.cluster/logs/`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from dsar_pipeline.settings import load_env_file

PROJECT = Path(__file__).resolve().parent.parent
CLUSTER = Path(".cluster")
DATABASE = "dsar_cluster"
POSTGRES = ("127.0.0.1", 5432)
BROKER = ("127.0.0.1", 5672)
BACKEND = ("127.0.0.1", 6379)
UI_PORT = 3000
CODE_PORT = 4266
READY_TIMEOUT_S = 180


class ClusterError(RuntimeError):
    """The cluster cannot start or stop; one line for the user."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cluster", help="the production topology on this machine (make cluster)",
                                   description="Start or stop the cluster: PostgreSQL storage, dagster-daemon, the "
                                               "code location as a gRPC server, the webserver and Celery workers.")
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start a fresh cluster (stops a running one first)")
    up.add_argument("--workers", type=int, default=int(os.environ.get("DSAR_CLUSTER_WORKERS", "2")),
                    help="Celery workers (default DSAR_CLUSTER_WORKERS or 2)")
    up.add_argument("--slots", type=int, default=int(os.environ.get("DSAR_CLUSTER_WORKER_SLOTS", "4")),
                    help="processes per worker (default DSAR_CLUSTER_WORKER_SLOTS or 4)")
    up.add_argument("--size", type=int, default=1000, help="sandbox population size (default 1000)")
    up.add_argument("--faults", default="", help="sandbox faults, e.g. portal=latency:0.2")
    up.add_argument("--sandbox-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for `dsar sandbox up`, e.g. --sandbox-arg=--avp-min-interval=0 "
                         "(repeatable)")
    up.add_argument("--port", type=int, default=UI_PORT, help=f"webserver port (default {UI_PORT})")
    up.add_argument("--code-port", type=int, default=CODE_PORT, help=f"code location's gRPC port (default {CODE_PORT})")
    up.add_argument("--database", default=DATABASE,
                    help=f"PostgreSQL database of the instance, dropped and created afresh (default {DATABASE})")
    up.set_defaults(func=run_up)
    down = actions.add_parser("down", help="stop exactly what `up` started")
    down.set_defaults(func=run_down)
    restart = actions.add_parser("restart", help="stop one part and start it again as `up` did (e.g. daemon)")
    restart.add_argument("part", help="daemon, webserver, code-location, worker-N or sandbox")
    restart.set_defaults(func=run_restart)


def run_up(args: argparse.Namespace) -> int:
    try:
        if args.workers < 1 or args.slots < 1:
            raise ClusterError("--workers and --slots must be at least 1")
        stop_cluster(CLUSTER, quiet=True)
        if not args.database.replace("_", "").isalnum():
            raise ClusterError("--database must be letters, digits and underscores")
        env = start_cluster(CLUSTER, workers=args.workers, slots=args.slots, size=args.size, faults=args.faults,
                            port=args.port, code_port=args.code_port, database=args.database,
                            sandbox_args=tuple(args.sandbox_arg))
    except ClusterError as exc:
        stop_cluster(CLUSTER, quiet=True)
        print(f"dsar cluster up: error: {exc}", file=sys.stderr)
        return 2
    print(f"cluster up: Dagster UI at {env['DSAR_DAGSTER_URL']} ({args.workers} Celery workers, "
          f"{args.slots} slots each; logs in {CLUSTER / 'logs'})")
    print("file a ticket: `dsar demo --cluster` (signs one for the demo person and waits for it), or "
          "`dsar ticket example > t.json` then `dsar ticket submit t.json --env-file .cluster/cluster.env`")
    print("stop it: `make cluster-down`")
    return 0


def run_down(args: argparse.Namespace) -> int:
    stopped = stop_cluster(CLUSTER, quiet=False)
    print(f"cluster down: {stopped} process groups stopped" if stopped else "cluster down: nothing was running")
    return 0


def run_restart(args: argparse.Namespace) -> int:
    try:
        pid = restart_part(CLUSTER, args.part)
    except ClusterError as exc:
        print(f"dsar cluster restart: error: {exc}", file=sys.stderr)
        return 2
    print(f"cluster: {args.part} restarted (process group {pid})")
    return 0


def start_cluster(root: Path, *, workers: int, slots: int, size: int, faults: str, port: int, code_port: int,
                  database: str, sandbox_args: tuple[str, ...] = ()) -> dict[str, str]:
    """Start every part; the settings they run with. Parts already started are recorded as they start, so a
    failure part-way leaves `stop_cluster` able to stop them."""
    for name, (host, port_) in {"PostgreSQL": POSTGRES, "RabbitMQ": BROKER, "Redis": BACKEND}.items():
        if not _answers(host, port_):
            raise ClusterError(f"{name} at {host}:{port_} does not answer; the cluster needs it")
    root = root.resolve()
    shutil.rmtree(root, ignore_errors=True)
    (root / "logs").mkdir(parents=True, mode=0o700)
    parts = _Parts(root)
    sandbox_env = root / "sandbox" / "sandbox.env"
    sandbox = parts.start("sandbox", [sys.executable, "-m", "sandbox", "up", "--size", str(size), "--port-base", "0",
                                      "--state-dir", str(root / "sandbox"), "--env-file", str(sandbox_env),
                                      "--faults", faults, *sandbox_args], dict(os.environ))

    def sandbox_ready() -> bool:
        if sandbox.poll() is not None:
            log = (root / "logs" / "sandbox.log").read_text(encoding="utf-8", errors="replace").strip()
            raise ClusterError(f"the sandbox stopped: {log.splitlines()[-1] if log else 'no output'}")
        return sandbox_env.is_file()

    _wait(sandbox_ready, "the sandbox", root)
    env = _cluster_env(root, load_env_file(sandbox_env, environ={}), port, database)
    _reset_database(database)
    (root / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n"
        "      location_name: dsar_pipeline\n", encoding="utf-8")
    dagster = [sys.executable, "-m", "dagster"]
    parts.start("code-location", [*dagster, "code-server", "start", "-m", "assets.definitions", "-a", "defs",
                                  "-h", "127.0.0.1", "-p", str(code_port)], env)
    _wait(lambda: _answers("127.0.0.1", code_port), "the code location", root)
    for number in range(1, workers + 1):
        host = root / "workers" / str(number)
        for folder in ("cwd", "tmp", "work"):
            (host / folder).mkdir(parents=True, mode=0o700)
        parts.start(f"worker-{number}", [
            sys.executable, "-m", "celery", "-A", "assets.celery_workers", "worker", "-Q", "dagster",
            "--concurrency", str(slots), "--pool", "prefork", "-n", f"dsar-worker-{number}@%h",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO"], env,
            {"TMPDIR": str(host / "tmp"), "DSAR_WORK_DIR": str(host / "work")}, cwd=host / "cwd")
    parts.start("daemon", [sys.executable, "-m", "dagster._daemon", "run", "-w", str(root / "workspace.yaml")], env)
    parts.start("webserver", [sys.executable, "-m", "dagster_webserver", "-w", str(root / "workspace.yaml"),
                              "-h", "127.0.0.1", "-p", str(port)], env)
    _wait(lambda: _http_ok(f"{env['DSAR_DAGSTER_URL']}/server_info"), "the webserver", root)
    _wait(lambda: _workers_answering(env) >= workers, f"{workers} Celery workers", root)
    _wait(lambda: _sensor_daemon_alive(env), "the daemon's sensor loop", root)
    return env


def _cluster_env(root: Path, sandbox: dict[str, str], port: int, database: str) -> dict[str, str]:
    """Every part's settings, written to `cluster.env` (0600) for `dsar demo --cluster` and the tests."""
    from harness.embedded import prepare_home

    home = root / "home"
    env = {**os.environ, **sandbox}
    os.environ.update(sandbox)  # the e-seals are issued by the sandbox's trust service
    env.update(prepare_home(home))
    shutil.copyfile(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")  # production's own instance
    env.update({"DSAR_ENV": "cluster", "DAGSTER_PG_HOST": POSTGRES[0], "DAGSTER_PG_PORT": str(POSTGRES[1]),
                "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": database,
                # the machine's RabbitMQ and Redis, unless the caller's environment names others (the tests
                # give each cluster a RabbitMQ vhost of its own, so no other cluster's worker takes its steps)
                "DSAR_CELERY_BROKER": os.environ.get("DSAR_CELERY_BROKER")
                or f"pyamqp://guest:guest@{BROKER[0]}:{BROKER[1]}//",
                "DSAR_CELERY_BACKEND": os.environ.get("DSAR_CELERY_BACKEND") or f"redis://{BACKEND[0]}:{BACKEND[1]}/0",
                "DSAR_WORK_DIR": str(root / "no-local-work"),  # steps hand over through S3 only
                "DSAR_DAGSTER_URL": f"http://127.0.0.1:{port}"})
    keys = sorted(k for k in env if k.startswith(("DSAR_", "DAGSTER_", "SANDBOX_")))
    fd = os.open(root / "cluster.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(f"{key}={env[key]}\n" for key in keys)
    return env


def _reset_database(database: str) -> None:
    """A fresh instance database: runs of an earlier cluster name objects its sandbox no longer has."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


class _Parts:
    """The processes `up` started, recorded in `processes.json` as each starts (its process group, command,
    working directory and the settings it has beyond `cluster.env`), so `down` and `restart` find them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.listing = root / "processes.json"
        self.parts: dict[str, dict[str, Any]] = (
            json.loads(self.listing.read_text(encoding="utf-8")) if self.listing.is_file() else {})

    def start(self, name: str, command: list[str], env: dict[str, str], extra: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen(command, cwd=cwd or PROJECT, env={**env, **(extra or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.parts[name] = {"pid": process.pid, "command": command, "cwd": str(cwd or PROJECT),
                            "extra": extra or {}}
        self.listing.write_text(json.dumps(self.parts, indent=1), encoding="utf-8")
        return process


def restart_part(root: Path, name: str) -> int:
    """Stop one part's process group and start it again with the same command and settings; its new group."""
    parts = _Parts(root.resolve())
    part = parts.parts.get(name)
    if part is None:
        raise ClusterError(f"no part {name!r} in a running cluster (parts: {', '.join(parts.parts) or 'none'})")
    _stop_groups({name: part["pid"]}, quiet=True)
    env = {**os.environ, **load_env_file(parts.root / "cluster.env", environ={})}
    return parts.start(name, part["command"], env, part["extra"], cwd=Path(part["cwd"])).pid


def stop_cluster(root: Path, *, quiet: bool) -> int:
    """Stop the process groups `up` recorded (SIGTERM, then SIGKILL after 30 s); how many were running."""
    listing = root / "processes.json"
    if not listing.is_file():
        return 0
    stopped = _stop_groups({name: part["pid"] for name, part in _Parts(root).parts.items()}, quiet=quiet)
    listing.unlink()
    return stopped


def _stop_groups(recorded: dict[str, int], *, quiet: bool) -> int:
    groups = {name: pid for name, pid in recorded.items() if _alive(pid)}
    for name, pid in reversed(list(groups.items())):  # the sandbox, started first, goes last
        if not quiet:
            print(f"stopping {name} (process group {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in groups.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in groups.values():
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    return len(groups)


def _alive(pid: int) -> bool:
    """Whether the process group `pid` still has a member."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _workers_answering(env: dict[str, str]) -> int:
    from celery import Celery

    app = Celery(broker=env["DSAR_CELERY_BROKER"], backend=env["DSAR_CELERY_BACKEND"])
    try:
        return len(app.control.ping(timeout=1.0) or [])
    finally:
        app.close()


def _sensor_daemon_alive(env: dict[str, str]) -> bool:
    import dagster as dg

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as instance:
            return "SENSOR" in {beat.daemon_type for beat in instance.get_daemon_heartbeats().values()}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait(ready: Callable[[], bool], what: str, root: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} not ready after {READY_TIMEOUT_S} s (logs in {root / 'logs'})")
        time.sleep(0.5)
