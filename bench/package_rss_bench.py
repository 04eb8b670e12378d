"""`package_peak_rss_mb`: peak memory of building one whole package for the large case.

The large case (the issue's): 10 metering points x 3 years of 15-minute consumption (1,052,160 interval
rows; the sandbox hub meters hourly before 2025-04-01, this case is quarter-hourly throughout) and 200
voice calls of 2.5 MiB audio each (~525 MB): a package of ~680 MB. Quick: 10 meters x 92 days and 20
calls.

A fresh process (`python -m bench.package_rss_bench`, the peak is VmHWM from /proc/self/status, as in
`recordings_bench`) builds the inputs as the request's step holds them and then builds the package as
the `portability_export` and `response_package` steps do: `stage_contents` (export, report,
recordings, letter into the encrypted staging) then `seal_package` (manifest, AES-256 ZIP; no CDOC:
a web-form ticket carries no ID-card certificate).

Inputs, made synthetically here in the shape the connectors give:
- avp (`connectors/avp/meterdata.py`): the customer, 10 metering points, their supply agreements and
  one `meter_data` record per hub page (31 local days per call, as the connector plans them; 2,976
  rows a page), rows `[interval_start_utc, resolution, direction, kwh, quality, reading_time_utc]`
  held column-wise as `connectors.series.IntervalRows`, built from the texts as `parse_page` builds
  them;
- recordings (`connectors/recordings/`): one `calls` record per call with its sidecar fields, a
  structured transcript and the audio as an `Attachment`; `copy_audio` streams the 2.5 MiB from a
  local WAV file in 1 MiB chunks (the connector's `copy_attachment` chunk size), so no sandbox or S3
  memory is involved;
- billing, volt, portal: searched, nothing found (their records are small beside these).
All records are released (strong match, verified request); keys: a local key file (the embedded
default without KMS), so the figure is the package building's alone.

Reported besides the peak (the issue asks what dominates when it is over 400 MB): RSS after the
imports, RSS once the inputs are held (as lists of strings the interval rows took 364 MB; column-wise,
~30 MB), and the
high-water mark after staging and after sealing, so the peak can be placed; and, as the baseline
of the same run, the peak of a fresh process building a package of 1 meter-day and 1 recording
(the fixed cost of building any package: imports, and what the export loads on first use — e.g.
`pyarrow.csv.write_csv` imports pandas, ~50 MB — plus allocator pools).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

from bench.results import Metric

ROOT = Path(__file__).resolve().parent.parent
OBJECT_BYTES = int(2.5 * 2**20)
CHUNK = 1 << 20
TARGET_MB = 400.0
REQUEST_ID = "r-0bench0package0rss0000000"
PERSONAL_CODE = "38001085718"


def build_in_fresh_process(meters: int, days: int, calls: int) -> dict[str, Any]:
    job = {"meters": meters, "days": days, "calls": calls}
    with tempfile.TemporaryDirectory(prefix="bench-package-rss-", dir=os.environ.get("BENCH_TMPDIR")) as tmp:
        done = subprocess.run([sys.executable, "-m", "bench.package_rss_bench", tmp], input=json.dumps(job),
                              capture_output=True, text=True, check=False, cwd=ROOT, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"package_rss child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool) -> dict[str, Metric]:
    small = build_in_fresh_process(1, 1, 1)
    print(f"baseline: a package of 1 meter-day and 1 recording: peak {small['hwm_sealed_mb']:.1f} MB "
          f"(RSS after imports {small['rss_imports_mb']:.1f} MB)", flush=True)
    result = build_in_fresh_process(10, 92 if quick else 3 * 365 + 1, 20 if quick else 200)
    print(f"inputs                              {result['rows']} interval rows in {result['pages']} pages, "
          f"{result['calls']} calls x {OBJECT_BYTES / 2**20:.1f} MiB", flush=True)
    print(f"RSS after imports                   {result['rss_imports_mb']:.1f} MB", flush=True)
    print(f"RSS holding the inputs              {result['rss_inputs_mb']:.1f} MB "
          f"(+{result['rss_inputs_mb'] - result['rss_imports_mb']:.1f} MB; built in {result['inputs_s']:.1f} s)",
          flush=True)
    print(f"peak after stage_contents           {result['hwm_staged_mb']:.1f} MB ({result['stage_s']:.1f} s; "
          f"RSS then {result['rss_staged_mb']:.1f} MB)", flush=True)
    print(f"peak after seal_package             {result['hwm_sealed_mb']:.1f} MB ({result['seal_s']:.1f} s; "
          f"package {result['package_bytes'] / 1e6:.0f} MB, {result['files']} files)", flush=True)
    return {
        "package_peak_rss_mb": {
            "value": round(result["hwm_sealed_mb"], 1), "unit": "MB",
            "target": f"<= {TARGET_MB:g} ({result['meters']} meters x {result['days']} days of 15-minute data, "
                      f"{result['calls']} x 2.5 MB recordings; inputs held: "
                      f"{result['rss_inputs_mb'] - result['rss_imports_mb']:.0f} MB)"},
        "package_small_peak_rss_mb": {
            "value": round(small["hwm_sealed_mb"], 1), "unit": "MB",
            "target": "baseline (same run, fresh process: 1 meter-day, 1 recording)"},
    }


# -- in the child process ------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _series_records(connector: Any, meters: list[str], first_day: date, days: int, matched_by: tuple[Any, ...],
                    retrieved: datetime) -> list[Any]:
    from connectors.avp.planning import CallPlan, MeterWindow, local_midnight, plan
    from connectors.contract import make_record
    from connectors.series import IntervalRowsBuilder

    start, end = local_midnight(first_day), local_midnight(first_day + timedelta(days=days))
    calls: list[CallPlan] = plan([MeterWindow(eic, start, end) for eic in meters], 31, 3000)
    step = timedelta(minutes=15)
    resolution, direction, quality = "PT15M", "consumption", "metered"
    records = []
    serial = 0
    for call in calls:
        rows = IntervalRowsBuilder()
        moment = call.period_start
        while moment < call.period_end:
            stamp = moment.strftime("%Y-%m-%dT%H:%M")
            serial += 1
            rows.append_text(stamp + ":00Z", resolution, direction, "0." + f"{serial * 7919 % 1000:03d}", quality,
                        stamp[:14] + "21:07Z")
            moment += step
        period_start = call.period_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = {"metering_point_eic": call.meter_eic, "period_start": period_start,
                  "period_end": call.period_end.strftime("%Y-%m-%dT%H:%M:%SZ"), "page": 0, "intervals": rows.build()}
        records.append(make_record(connector, "meter_data", f"{call.meter_eic}/{period_start}/0", fields, matched_by,
                                   retrieved, event_date=call.period_start.date(),
                                   parent=("metering_points", call.meter_eic)))
    return records


def _avp_records(meters: list[str], first_day: date, days: int, matched_by: tuple[Any, ...],
                 retrieved: datetime) -> list[Any]:
    from connectors.avp.sources import SOURCES
    from connectors.contract import make_record
    from sandbox.identifiers import party_eic

    connector = SimpleNamespace(system="avp", sources=SOURCES)
    customer_eic = party_eic(31337)
    since = datetime.combine(first_day, datetime.min.time(), UTC) - timedelta(hours=2)
    records = [make_record(connector, "customer", customer_eic, {
        "customer_eic": customer_eic, "personal_code": PERSONAL_CODE, "customer_type": "PHYSICAL_PERSON",
        "first_name": "Mari", "last_name": "Maasikas", "email": "mari.maasikas@example.ee",
        "mobile_phone": "+37255512345"}, matched_by, retrieved)]
    for number, eic in enumerate(meters):
        records.append(make_record(connector, "metering_points", eic, {
            "meter_eic": eic, "customer_eic": customer_eic,
            "metering_point": {"commodityType": "ELECTRICITY", "meteringType": "REMOTE", "version": 1},
            "electricity_characteristics": {"production": number == 0, "resolution": "PT15M"},
            "street_address": f"Pärnu mnt {number + 1}", "locality": "Tallinn", "county": "Harju maakond",
            "postcode": "10141"}, matched_by, retrieved, parent=("customer", customer_eic)))
        records.append(make_record(connector, "agreements", f"{eic}/A-{number}", {
            "agreement_id": f"A-{number}", "agreement_type": "SUPPLY", "meter_eic": eic, "customer_eic": customer_eic,
            "customer_name": "Mari Maasikas", "service_provider_eic": party_eic(1),
            "service_provider_name": "Eesti Energia AS", "commodity_type": "ELECTRICITY",
            "valid_from": since.strftime("%Y-%m-%dT%H:%M:%SZ")}, matched_by, retrieved,
            parent=("metering_points", eic)))
    return records + _series_records(connector, meters, first_day, days, matched_by, retrieved)


def _call_records(count: int, matched_by: tuple[Any, ...], retrieved: datetime) -> list[Any]:
    from connectors.contract import Attachment, make_record
    from connectors.recordings.sources import SOURCES
    from connectors.recordings.transcript import structured_transcript

    connector = SimpleNamespace(system="recordings", sources=SOURCES)
    records = []
    first = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
    for number in range(count):
        started = first + timedelta(days=3 * number, minutes=17 * number)
        call_id = f"call-{number:05d}"
        transcript = structured_transcript([
            {"speaker": "customer", "text": "Tere, mul on küsimus arve kohta."},
            {"speaker": "agent Kadri Tamm", "text": "Tere, Kadri kuuleb. Kuidas saan aidata?"},
            {"speaker": "customer", "text": "Arve tundub suurem kui tavaliselt."}], "A-101", "Kadri Tamm")
        fields = {"call_id": call_id, "channel": "voice", "caller_number": "+37255512345", "customer_id": 4242,
                  "agent_id": "A-101", "agent_name": "Kadri Tamm", "started_at": started,
                  "ended_at": started + timedelta(seconds=164), "duration_s": 164, "queue": "billing",
                  "language": "et", "transcript": transcript}
        attachment = Attachment(f"s3://call-recordings/audio/{started:%Y/%m/%d}/{call_id}.wav", OBJECT_BYTES,
                                "audio/wav")
        records.append(make_record(connector, "calls", call_id, fields, matched_by, retrieved, attachment=attachment,
                                   event_date=started.date()))
    return records


def _child(tmp: Path) -> None:
    from bench.recordings_bench import wav_like
    from connectors.classification import Disposition
    from connectors.identity import Identifier, IdentityType
    from dsar_pipeline.collection.collect import SystemResult, SystemStatus
    from dsar_pipeline.intake.sealed_tickets import RequestFacts
    from dsar_pipeline.package.assemble import seal_package, stage_contents, staging_for
    from dsar_pipeline.package.passphrase import generate_passphrase
    from dsar_pipeline.review.findings import ReviewOutcome
    from dsar_pipeline.sealing.keys import LocalKeyProvider
    from sandbox.identifiers import metering_point_eic

    job = json.load(sys.stdin)
    rss_imports = _status_mb("VmRSS")
    audio = tmp / "call.wav"
    audio.write_bytes(wav_like(OBJECT_BYTES))

    started = time.perf_counter()
    retrieved = datetime.now(UTC).replace(microsecond=0)
    matched_by = (Identifier.of(IdentityType.PERSONAL_CODE, PERSONAL_CODE),)
    meters = [metering_point_eic(7000 + 10 * n) for n in range(job["meters"])]
    first_day = date(2023, 11, 1)
    avp = _avp_records(meters, first_day, job["days"], matched_by, retrieved)
    calls = _call_records(job["calls"], matched_by, retrieved)
    results = {"avp": SystemResult("avp", SystemStatus.COMPLETE, avp, calls=len(avp)),
               "recordings": SystemResult("recordings", SystemStatus.COMPLETE, calls, calls=len(calls))}
    for name in ("billing", "volt", "portal"):
        results[name] = SystemResult(name, SystemStatus.COMPLETE)
    everything = avp + calls
    outcome = ReviewOutcome(dispositions={r.ref: Disposition.RELEASE for r in everything}, findings=[],
                            failed_systems=[], requires_approval=False, reasons=[],
                            counts={"release": len(everything), "review": 0, "other_person": 0})
    today = datetime.now(UTC).date()
    facts = RequestFacts(request_id=REQUEST_ID, subject_request_id="bench-package-rss", controller="enefit-ee",
                         language="et", request_type="access", identifiers=(Identifier.anchor(PERSONAL_CODE),),
                         delivery_email="mari.maasikas@example.ee", delivery_phone="+37255512345",
                         certificate_der=None, received_date=today, due_date=today + timedelta(days=30),
                         verification="verified", verification_reason=None, callback_urls=())
    inputs_s = time.perf_counter() - started
    rss_inputs = _status_mb("VmRSS")

    def copy_audio(_attachment: Any, sink: BinaryIO) -> None:
        with audio.open("rb") as source:
            while chunk := source.read(CHUNK):
                sink.write(chunk)

    keys = LocalKeyProvider(tmp / "keys" / "kek.bin")
    staging = staging_for(tmp / "work", REQUEST_ID, keys)
    started = time.perf_counter()
    contents = stage_contents(staging, facts, results, outcome, include_review=(), copy_audio=copy_audio)
    stage_s = time.perf_counter() - started
    hwm_staged, rss_staged = _status_mb("VmHWM"), _status_mb("VmRSS")
    started = time.perf_counter()
    sealed = seal_package(staging, facts, contents, tmp / "work" / REQUEST_ID / "package", generate_passphrase())
    seal_s = time.perf_counter() - started
    pages = sum(1 for r in avp if r.source == "meter_data")
    rows = sum(len(r.fields["intervals"]) for r in avp if r.source == "meter_data")
    print(json.dumps({
        "meters": job["meters"], "days": job["days"], "calls": job["calls"], "pages": pages, "rows": rows,
        "rss_imports_mb": rss_imports, "rss_inputs_mb": rss_inputs, "inputs_s": inputs_s,
        "hwm_staged_mb": hwm_staged, "rss_staged_mb": rss_staged, "stage_s": stage_s,
        "hwm_sealed_mb": _status_mb("VmHWM"), "seal_s": seal_s, "package_bytes": sealed.size,
        "files": sealed.files}))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
