"""The portability export: files and layout, values read back exactly, schema, data dictionary, Art. 20 rule,
redaction, memory.

Records are synthetic but built with the connectors' own source declarations (so categories are the
real ones); expected values come from the records, never from the export's own output.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import jsonschema
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.avp.sources import SOURCES as AVP
from connectors.contract import Attachment, Record
from connectors.portal.sources import SOURCES as PORTAL
from connectors.recordings.sources import SOURCES as RECORDINGS
from connectors.registry import systems
from connectors.volt.sources import SOURCES as VOLT
from dsar_pipeline.export.portability import write_export
from dsar_pipeline.export.values import csv_cell, json_value
from dsar_pipeline.package.staging import StagedFile

DECLARED = {"billing": systems()["billing"].connector_class().sources, "volt": VOLT, "portal": PORTAL, "avp": AVP,
            "recordings": RECORDINGS}
SYSTEMS = {"billing": "Billing", "volt": "Volt charging app", "recordings": "Call recordings",
           "portal": "Self-service portal", "avp": "AVP data hub (Elering)"}
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
AGENT = "Kadri Tamm"
OTHER_ADULT = "Peeter Kask"
EIC_EE = "38ZEE-00001234-7"
EIC_LV = "43Z-LV-0000042-Q"


# --- a Staging over a plain directory (tests only: synthetic data) --------------------------------------------


class _Counting(io.RawIOBase):
    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.target.write(chunk)
        return len(chunk)


class DirStaging:
    """The `Staging` protocol over `root`; a file appears in `files()` only when its block ends cleanly."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: list[StagedFile] = []

    @contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            counting = _Counting(handle)
            yield counting  # type: ignore[misc]
        self._files.append(StagedFile(name, counting.size, counting.digest.hexdigest()))

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        if name not in {f.name for f in self._files}:
            raise FileNotFoundError(name)
        with (self.root / name).open("rb") as handle:
            yield handle

    def files(self) -> list[StagedFile]:
        return list(self._files)

    def remove_all(self) -> None:
        for staged in self._files:
            (self.root / staged.name).unlink(missing_ok=True)
        self._files.clear()

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()


# --- synthetic records --------------------------------------------------------------------------------------


def rec(system: str, source: str, key: str, fields: dict[str, Any], **extra: Any) -> Record:
    declared = DECLARED[system][source].fields
    return Record(system=system, source=source, key=key, fields=fields,
                  categories={name: declared[name] for name in fields}, matched_by=(), retrieved_at=NOW, **extra)


def interval_rows(start: datetime, count: int, resolution: str = "PT15M", direction: str = "consumption",
                  quality: str = "metered", kwh: str = "0.250") -> list[list[str]]:
    step = timedelta(minutes=15) if resolution == "PT15M" else timedelta(hours=1)
    return [[(start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ"), resolution, direction, kwh, quality,
             "2026-01-01T00:00:00Z"] for i in range(count)]


def meter_page(eic: str, rows: list[list[str]], page: int = 0) -> Record:
    return rec("avp", "meter_data", f"{eic}/{page}", {"metering_point_eic": eic, "period_start": "x",
                                                      "period_end": "y", "page": page, "intervals": rows})


def person_records() -> list[Record]:
    """One person across all five systems, with the awkward values a real export meets."""
    transcript = [
        {"speaker": "customer", "text": "Tere, kas Kadri saab aidata?", "role": "customer"},
        {"speaker": "bot", "text": "Thank you. Let me check that for you.", "role": "bot"},
        {"speaker": f"agent {AGENT}", "text": f"Hello, this is {AGENT}.", "role": "agent",
         "agent_name": AGENT, "agent_id": "A-101"},
    ]
    january = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=2)  # local midnight, Tallinn (+02:00)
    return [
        rec("billing", "customers", "7", {"id": 7, "kind": "private", "legal_entity": False,
                                          "personal_code": "38001085718", "first_name": "Mari",
                                          "last_name": "Maasikas", "language": "et",
                                          "created_at": datetime(2019, 5, 2, 8, 30, tzinfo=UTC)}),
        rec("billing", "contacts", "70", {"id": 70, "customer_id": 7, "kind": "email", "email": "mari@example.ee",
                                          "is_primary": True, "valid_from": date(2019, 5, 2)}),
        rec("billing", "contacts", "71", {"id": 71, "customer_id": 7, "kind": "address",
                                          "address": 'Pikk 1, "Vanalinn", Tallinn\nEstonia', "is_primary": False,
                                          "valid_from": date(2020, 1, 1)}),
        rec("billing", "metering_points", "5", {"id": 5, "contract_id": 3, "eic": EIC_LV, "address": "Rīga",
                                                "country": "LV", "time_zone": "Europe/Riga",
                                                "grid_operator": "ST", "has_production": False}),
        rec("billing", "invoices", "900", {"id": 900, "customer_id": 7, "contract_id": 3, "number": "INV-900",
                                           "issue_date": date(2025, 2, 1), "due_date": date(2025, 2, 15),
                                           "period_start": date(2025, 1, 1), "period_end": date(2025, 1, 31),
                                           "total_eur": Decimal("42.10"), "status": "paid"}),
        rec("billing", "credit_checks", "11", {"id": 11, "customer_id": 7, "bureau": "Creditinfo",
                                               "checked_at": datetime(2024, 3, 1, tzinfo=UTC), "score": 612,
                                               "decision": "deposit required", "automated": True,
                                               "logic": "score below 650 -> deposit"}),
        rec("volt", "charging_sessions", "s1", {"id": "s1", "account_id": "a1", "vehicle_id": "v1",
                                                "station_id": "ST-9", "station_name": "Ülemiste",
                                                "latitude": 59.4221, "longitude": 24.7994,
                                                "started_at": datetime(2025, 6, 1, 17, 5, tzinfo=UTC),
                                                "ended_at": datetime(2025, 6, 1, 18, 0, tzinfo=UTC),
                                                "energy_kwh": Decimal("21.375"), "price_eur": Decimal("7.48")}),
        rec("portal", "messages", "m1", {"id": "m1", "sent_at": datetime(2025, 7, 1, 9, 0, tzinfo=UTC),
                                         "direction": "in", "subject": "Arve, küsimus",
                                         "body": '<script>alert("x")</script> Привет, "quoted", comma'}),
        rec("portal", "cookie_consents", "c1", {"id": "c1", "consent_id": "ck-1",
                                                "recorded_at": datetime(2025, 7, 2, tzinfo=UTC),
                                                "categories": ["necessary", "analytics"], "ip": "192.0.2.10"}),
        rec("recordings", "calls", "call-1", {"call_id": "call-1", "channel": "chatbot",
                                              "caller_number": "+3725551234", "customer_id": 7,
                                              "agent_id": "A-101", "agent_name": AGENT,
                                              "started_at": datetime(2025, 3, 3, 12, 0, tzinfo=UTC),
                                              "duration_s": 120, "queue": "billing", "language": "et",
                                              "transcript": transcript}),
        rec("avp", "customer", "38X", {"customer_eic": "38X-EE-0000001-A", "personal_code": "38001085718",
                                       "first_name": "Mari", "last_name": "Maasikas",
                                       "other_identities": [{"identity_type": "X", "identity_value": "1"}]}),
        meter_page(EIC_EE, interval_rows(january, 96 * 3)),
        meter_page(EIC_EE, interval_rows(january, 96 * 3, direction="production", kwh="0.005",
                                         quality="estimated"), page=1),
        meter_page(EIC_LV, interval_rows(datetime(2025, 1, 31, 22, tzinfo=UTC), 48, resolution="PT1H")),
    ]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[DirStaging, list[Record], Any]:
    staging = DirStaging(tmp_path)
    records = person_records()
    summary = write_export(records, staging, systems=SYSTEMS)
    return staging, records, summary


def read_csv(staging: DirStaging, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(staging.read(name).decode("utf-8"), newline="")))


# --- tests --------------------------------------------------------------------------------------------------


def test_layout_json_per_system_csv_per_table_and_dictionary(exported: Any) -> None:
    staging, _, summary = exported
    names = {f.name for f in staging.files()}
    for system in SYSTEMS:
        assert f"export/json/{system}.json" in names
        assert f"export/schema/{system}.schema.json" in names
    assert {"export/csv/billing/customers.csv", "export/csv/billing/contacts.csv", "export/csv/billing/invoices.csv",
            "export/csv/volt/charging_sessions.csv", "export/csv/portal/messages.csv",
            "export/csv/recordings/calls.csv", "export/csv/avp/customer.csv", "export/csv/avp/consumption.csv",
            "export/parquet/consumption.parquet", "export/data-dictionary.json",
            "export/data-dictionary.csv"} <= names
    assert set(summary.files) == names
    assert json.loads(staging.read("export/json/volt.json"))["sources"]["charging_sessions"]["records"][0]["id"] == "s1"


def test_csv_cells_and_json_values_read_back_as_the_records_hold_them(exported: Any) -> None:
    staging, records, _ = exported
    for record in records:
        if record.source == "meter_data" or record.source == "credit_checks" or record.system == "recordings":
            continue
        rows = read_csv(staging, f"export/csv/{record.system}/{record.source}.csv")
        document = json.loads(staging.read(f"export/json/{record.system}.json"))
        items = document["sources"][record.source]["records"]
        index = [i for i, r in enumerate(items) if all(r.get(k) == json_value(v) for k, v in record.fields.items())]
        assert len(index) == 1, (record.system, record.source)
        row = rows[index[0]]
        for name, value in record.fields.items():
            assert row[name] == csv_cell(value), (record.source, name)
    # spot checks of the value rules, independent of the helpers
    invoice = read_csv(staging, "export/csv/billing/invoices.csv")[0]
    assert invoice["total_eur"] == "42.10" and invoice["issue_date"] == "2025-02-01"
    customer = json.loads(staging.read("export/json/billing.json"))["sources"]["customers"]["records"][0]
    assert customer["created_at"] == "2019-05-02T08:30:00Z" and customer["legal_entity"] is False
    message = read_csv(staging, "export/csv/portal/messages.csv")[0]
    assert message["body"] == '<script>alert("x")</script> Привет, "quoted", comma'
    assert json.loads(read_csv(staging, "export/csv/portal/cookie_consents.csv")[0]["categories"]) == [
        "necessary", "analytics"]
    address = read_csv(staging, "export/csv/billing/contacts.csv")[1]["address"]
    assert address == 'Pikk 1, "Vanalinn", Tallinn\nEstonia'
    raw = staging.read("export/csv/billing/contacts.csv")
    assert raw.startswith(b"id,customer_id,kind,") and b"\r\n" in raw and not raw.startswith(b"\xef\xbb\xbf")


def test_pandas_reads_the_tables_back_to_the_same_values(exported: Any) -> None:
    staging, records, _ = exported
    frame = pd.read_csv(io.BytesIO(staging.read("export/csv/volt/charging_sessions.csv")), dtype=str,
                        keep_default_na=False)
    session = next(r for r in records if r.source == "charging_sessions")
    assert frame.loc[0, "energy_kwh"] == "21.375" and Decimal(frame.loc[0, "energy_kwh"]) == Decimal("21.375")
    assert float(frame.loc[0, "latitude"]) == session.fields["latitude"]
    assert pd.Timestamp(frame.loc[0, "started_at"]) == pd.Timestamp(session.fields["started_at"])


def test_json_files_validate_against_the_shipped_schemas_and_a_broken_file_does_not(exported: Any) -> None:
    staging, _, _ = exported
    for system in SYSTEMS:
        schema = json.loads(staging.read(f"export/schema/{system}.schema.json"))
        document = json.loads(staging.read(f"export/json/{system}.json"))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        assert list(validator.iter_errors(document)) == [], system
    schema = json.loads(staging.read("export/schema/billing.schema.json"))
    document = json.loads(staging.read("export/json/billing.json"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    document["sources"]["invoices"]["records"][0]["total_eur"] = 42.1  # a float where an exact decimal belongs
    assert list(validator.iter_errors(document))
    document = json.loads(staging.read("export/json/billing.json"))
    document["sources"]["invoices"]["records"][0]["surprise"] = "x"
    assert list(validator.iter_errors(document))
    properties = schema["$defs"]["invoices"]["properties"]
    assert properties["issue_date"]["format"] == "date" and properties["total_eur"]["x-data-category"] == (
        "user.financial.invoice")


def test_inferred_credit_checks_are_left_out_and_said_so(exported: Any) -> None:
    staging, _, summary = exported
    names = {f.name for f in staging.files()}
    assert "export/csv/billing/credit_checks.csv" not in names
    assert "credit_checks" not in json.loads(staging.read("export/json/billing.json"))["sources"]
    dictionary = json.loads(staging.read("export/data-dictionary.json"))
    left = [e for e in dictionary["left_out"] if e["source"] == "credit_checks" and "column" not in e]
    assert left and left[0]["records"] == 1 and "inferred" in left[0]["reason"]
    assert any(e["source"] == "credit_checks" and "column" not in e for e in summary.left_out)
    assert all(b"Creditinfo" not in staging.read(f.name) for f in staging.files())
    assert "inferred" in dictionary["rules"]["left_out_inferred"].lower() or dictionary["rules"]["left_out_inferred"]


def test_agents_and_other_people_are_not_in_the_export(tmp_path: Path) -> None:
    staging = DirStaging(tmp_path)
    records = person_records()
    call = next(r for r in records if r.system == "recordings")
    call.fields["note"] = f"callback to {OTHER_ADULT}"
    call.categories["note"] = "third_party.person"
    summary = write_export(records, staging, systems=SYSTEMS)
    for staged in staging.files():
        content = staging.read(staged.name).decode("utf-8", errors="replace")
        assert AGENT not in content and "Kadri" not in content and "A-101" not in content, staged.name
        assert OTHER_ADULT not in content, staged.name
    header = read_csv(staging, "export/csv/recordings/calls.csv")[0]
    assert "agent_name" not in header and "agent_id" not in header and "note" not in header
    turns = json.loads(header["transcript"])
    assert [t["speaker"] for t in turns] == ["customer", "bot", "agent"]
    assert turns[2]["text"] == "Hello, this is [agent]." and "agent_name" not in turns[2]
    assert summary.withheld.counts["third_party_data"] == 1 and summary.withheld.counts["agent_identity"] >= 2


def test_data_dictionary_describes_every_csv_column_with_its_category(exported: Any) -> None:
    staging, _, _ = exported
    dictionary = json.loads(staging.read("export/data-dictionary.json"))
    described = {entry["path"]: entry for entry in dictionary["files"]}
    for staged in staging.files():
        if not staged.name.endswith(".csv") or staged.name == "export/data-dictionary.csv":
            continue
        header = staging.read(staged.name).decode("utf-8").splitlines()[0].replace('"', "").split(",")
        entry = described[staged.name]
        assert [c["name"] for c in entry["columns"]] == header, staged.name
        for column in entry["columns"]:
            assert column["description"] and column["category"] and column["category_label"], (staged.name, column)
    consumption = described["export/csv/avp/consumption.csv"]
    assert consumption["rows"] == 96 * 3 * 2 + 48
    assert described["export/parquet/consumption.parquet"]["columns"][6]["name"] == "quantity"
    readable = list(csv.DictReader(io.StringIO(staging.read("export/data-dictionary.csv").decode("utf-8"))))
    assert {(r["file"], r["column"]) for r in readable} == {
        (e["path"], c["name"]) for e in dictionary["files"] for c in e["columns"]}
    contacts = next(c for c in described["export/csv/billing/contacts.csv"]["columns"] if c["name"] == "email")
    assert contacts["category"] == "user.contact.email" and contacts["nullable"] is True


def test_consumption_csv_and_parquet_read_back_to_the_same_rows(exported: Any) -> None:
    staging, records, _ = exported
    expected = []
    for record in records:
        if record.source != "meter_data":
            continue
        for start, resolution, direction, kwh, quality, _ in record.fields["intervals"]:
            expected.append((record.fields["metering_point_eic"], direction, start, resolution, Decimal(kwh),
                             "metered" if quality == "metered" else "estimated"))
    frame = pd.read_csv(io.BytesIO(staging.read("export/csv/avp/consumption.csv")), dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["metering_point_eic", "direction", "interval_start_utc", "interval_end_utc",
                                   "interval_start_local", "resolution", "quantity", "unit", "quality"]
    got = [(r.metering_point_eic, r.direction, r.interval_start_utc, r.resolution, Decimal(r.quantity), r.quality)
           for r in frame.itertuples()]
    assert got == expected
    assert set(frame["unit"]) == {"kWh"} and all(len(q.split(".")[1]) == 3 for q in frame["quantity"])
    table = pq.read_table(io.BytesIO(staging.read("export/parquet/consumption.parquet")))
    assert table.schema.field("quantity").type == pa.decimal128(12, 3)
    assert table.schema.field("interval_start_utc").type == pa.timestamp("ms", tz="UTC")
    parquet = table.to_pandas()
    assert [Decimal(str(q)) for q in parquet["quantity"]] == [Decimal(q) for q in frame["quantity"]]
    assert list(parquet["interval_start_utc"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")) == list(frame["interval_start_utc"])
    assert list(parquet["interval_end_utc"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")) == list(frame["interval_end_utc"])
    assert list(parquet["interval_start_local"]) == list(frame["interval_start_local"])
    riga = frame[frame.metering_point_eic == EIC_LV]
    assert riga.iloc[0]["interval_start_local"] == "2025-02-01T00:00:00+02:00"  # the billing record named Riga


def test_a_system_without_records_still_gets_its_json_file(tmp_path: Path) -> None:
    staging = DirStaging(tmp_path)
    records = [r for r in person_records() if r.system != "volt"]
    summary = write_export(records, staging, systems=SYSTEMS)
    document = json.loads(staging.read("export/json/volt.json"))
    assert document == {"format": "dsar-export/1", "system": "volt", "title": "Volt charging app", "sources": {}}
    assert summary.records["volt"] == 0
    assert json.loads(staging.read("export/json/avp.json"))["series"]["consumption"]["rows"] == 96 * 3 * 2 + 48


def test_export_goes_through_the_encrypted_staging(tmp_path: Path) -> None:
    from dsar_pipeline.sealing.encrypted_staging import EncryptedStaging
    from dsar_pipeline.sealing.keys import LocalKeyProvider

    staging = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "kek"), "req-1")
    write_export(person_records(), staging, systems=SYSTEMS)
    with staging.open("export/csv/billing/contacts.csv") as stream:
        assert b"mari@example.ee" in stream.read()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "staging").rglob("*") if p.is_file())
    assert b"mari@example.ee" not in stored and b"Maasikas" not in stored


# --- memory: the series streams -----------------------------------------------------------------------------


def synthetic_pages(rows: int, page_rows: int = 2976) -> Iterator[Record]:
    """`rows` quarter-hours from 2022-01-01 as hub pages, made cheaply (the generator is not under test)."""
    times = [f"T{h:02d}:{m:02d}:00Z" for h in range(24) for m in (0, 15, 30, 45)]
    amounts = [f"0.{i:03d}" for i in range(1000)]
    day, made, page, batch = date(2022, 1, 1), 0, 0, []
    while made < rows:
        prefix = day.isoformat()
        for moment in times[: rows - made]:
            batch.append([prefix + moment, "PT15M", "consumption", amounts[made % 1000], "metered", "x"])
            made += 1
            if len(batch) == page_rows:
                yield meter_page(EIC_EE, batch, page)
                batch, page = [], page + 1
        day += timedelta(days=1)
    if batch:
        yield meter_page(EIC_EE, batch, page)


class _NullStaging(DirStaging):
    """Counts and hashes, keeps nothing: the memory test measures the writer, not a disk cache."""

    @contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        counting = _Counting(io.BytesIO())
        counting.target = _Discard()  # type: ignore[assignment]
        yield counting  # type: ignore[misc]
        self._files.append(StagedFile(name, counting.size, counting.digest.hexdigest()))


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _peak(rows: int) -> tuple[int, int, int]:
    """(Python heap peak, Arrow pool peak or 0 if an earlier test set a higher one, CSV bytes) of one export."""
    pool = pa.default_memory_pool()
    write_export(synthetic_pages(2000), _NullStaging(Path(".")), systems={"avp": "hub"})  # warm up (imports)
    arrow_before = pool.max_memory()
    tracemalloc.start()
    try:
        staging = _NullStaging(Path("."))
        summary = write_export(synthetic_pages(rows), staging, systems={"avp": "hub"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.series.rows == rows
    arrow_peak = pool.max_memory() if pool.max_memory() > arrow_before else 0  # the pool's peak never resets
    return peak, arrow_peak, next(f.size for f in staging.files() if f.name.endswith("consumption.csv"))


def test_series_memory_stays_flat_while_rows_grow() -> None:
    small, _, small_csv = _peak(30_000)
    large, arrow_peak, large_csv = _peak(200_000)
    assert large_csv > 6 * small_csv
    assert large < 4_000_000 and large < small * 1.5 + 500_000, (small, large)
    assert arrow_peak < 64_000_000


@pytest.mark.slow
def test_a_million_interval_rows_stream_in_flat_memory() -> None:
    peak, arrow_peak, csv_size = _peak(1_000_000)
    assert csv_size > 100_000_000
    assert peak < 4_000_000 and arrow_peak < 64_000_000


def test_attachment_only_records_are_not_a_problem(tmp_path: Path) -> None:
    staging = DirStaging(tmp_path)
    call = rec("recordings", "calls", "v1", {"call_id": "v1", "channel": "voice", "caller_number": "+3725551234",
                                            "agent_id": "A-102", "agent_name": "Marko Kask", "duration_s": 40},
               attachment=Attachment("s3://call-recordings/audio/v1.wav", 1000, "audio/wav"))
    write_export([call], staging, systems={"recordings": "Call recordings"})
    row = read_csv(staging, "export/csv/recordings/calls.csv")[0]
    assert row["call_id"] == "v1" and row["duration_s"] == "40" and "Marko" not in json.dumps(row)


# --- the real connectors' records, from the sandbox ---------------------------------------------------------


def read_all(staging: Any, name: str) -> bytes:
    with staging.open(name) as stream:
        return b"".join(iter(lambda: stream.read(1 << 20), b""))


@pytest.mark.parametrize("case", ["debtor", "household-a"])
def test_real_connector_records_export_validate_and_keep_others_out(federation: Any, tmp_path: Path,
                                                                    case: str) -> None:
    """A sandbox person's released records through the real connectors: every JSON file validates, nothing of
    an agent or of the other adult of the household gets in, and the debtor's credit check stays out."""
    from connectors.classification import Disposition, classify
    from connectors.identity import Identifier
    from connectors.registry import build_connectors, systems
    from connectors.resolution import expand
    from dsar_pipeline.collection.collect import SystemStatus, collect_system
    from dsar_pipeline.export.redaction import write_recordings
    from dsar_pipeline.report.render import write_report
    from dsar_pipeline.sealing.encrypted_staging import EncryptedStaging
    from dsar_pipeline.sealing.keys import LocalKeyProvider

    population = federation.population
    person = population.case(case)
    connectors = build_connectors(federation.settings)
    try:
        anchor = Identifier.anchor(person.personal_code)
        graph = expand([anchor], connectors)
        results = {name: collect_system(connector, graph) for name, connector in connectors.items()}
        dispositions = classify([r for result in results.values() for r in result.records], anchor.value)
        released = [r for result in results.values() for r in result.records
                    if dispositions[r.ref] is Disposition.RELEASE]
        staging = EncryptedStaging(tmp_path / "staging", LocalKeyProvider(tmp_path / "kek"), f"req-{case}")
        write_export(released, staging, systems={name: entry.title for name, entry in systems().items()})
        write_report(released, staging, person_language=person.language or "en", systems_summary=results)
        write_recordings(released, staging, lambda a, sink: connectors["recordings"].copy_attachment(a, sink))
    finally:
        for connector in connectors.values():
            connector.close()
    assert all(r.status is SystemStatus.COMPLETE for r in results.values()) and released
    wavs = [f for f in staging.files() if f.name.endswith(".wav")]
    assert all(read_all(staging, f.name)[:4] == b"RIFF" for f in wavs)
    for system in systems():
        schema = json.loads(read_all(staging, f"export/schema/{system}.schema.json"))
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        assert not list(validator.iter_errors(json.loads(read_all(staging, f"export/json/{system}.json")))), system
    from sandbox.population import AGENTS

    forbidden = [name for _, name in AGENTS] + [agent_id for agent_id, _ in AGENTS]
    if case == "household-a":
        other = population.case("household-b")
        forbidden += [other.personal_code, other.email, f"{other.first_name} {other.last_name}"]
    for staged in staging.files():
        if staged.name.endswith((".wav", ".parquet")):
            continue
        content = read_all(staging, staged.name).decode("utf-8")
        assert not [value for value in forbidden if value and value in content], staged.name
    if case == "debtor":
        names = {f.name for f in staging.files()}
        assert "export/csv/billing/credit_checks.csv" not in names
        assert "credit_checks" in read_all(staging, "report/report.html").decode("utf-8")
