"""Start the five simulated systems and the gateways, check that each answers, hand out settings.

The settings are written as the `DSAR_*` variables the pipeline reads in production, so pointing
the pipeline at the sandbox and at the real systems is the same act: load a different env file.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from sandbox.avp.app import AvpConfig
from sandbox.avp.app import create_app as create_avp_app
from sandbox.avp.protocol import fault_error_body as avp_fault_error_body
from sandbox.billing.proxy import BillingProxy
from sandbox.billing.seed import seed_database
from sandbox.billing.sqlite_faults import SqliteFaults, sqlite_fault_error
from sandbox.control import create_control_app
from sandbox.eid import SandboxEid
from sandbox.faults import Fault, FaultBoard, FaultInjector, FaultSpecError, parse_spec
from sandbox.gateways.app import GatewayConfig
from sandbox.gateways.app import create_app as create_gateway_app
from sandbox.hosting import PortInUseError, ServiceHost
from sandbox.identifiers import party_eic
from sandbox.people import named_people
from sandbox.population import AS_OF_DEFAULT, DEFAULT_SEED, DEFAULT_SIZE, Population, generate
from sandbox.portal.app import PortalConfig
from sandbox.portal.app import create_app as create_portal_app
from sandbox.recordings.accounts import CALL_CENTRE, CONTROLLER, Account
from sandbox.recordings.s3 import create_s3_app, drop_ticket, s3_error_body, seed_recordings
from sandbox.recordings.seed import client as s3_client
from sandbox.volt.app import VoltConfig
from sandbox.volt.app import create_app as create_volt_app

PORT_OFFSETS = {"control": 0, "volt": 1, "portal": 2, "avp": 3, "recordings": 4, "gateways": 5, "billing": 6,
                "controller-aws": 7}
REGION = "eu-north-1"
SUPPLIER_EIC = party_eic(1)


class SandboxError(RuntimeError):
    """Anything that stops the sandbox from starting; the message is one line for the user."""


@dataclass
class SandboxOptions:
    seed: int = DEFAULT_SEED
    size: int = DEFAULT_SIZE
    as_of: date = AS_OF_DEFAULT
    host: str = "127.0.0.1"
    port_base: int = 18700  # 0: every service on a free ephemeral port
    state_dir: Path = Path(".sandbox")
    billing_url: str | None = None  # PostgreSQL URL; SQLite file under state_dir when absent
    faults: str = ""
    avp_max_period_days: int = 31
    avp_max_page_size: int = 3000
    avp_min_call_interval_s: float = 0.05
    volt_rate_per_second: float = 20.0


@dataclass
class Federation:
    """A running sandbox: its hosts, its fault board and the settings it hands out."""

    options: SandboxOptions
    board: FaultBoard = field(default_factory=FaultBoard)
    population: Population | None = None
    hosts: dict[str, ServiceHost] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Start everything, wait until each system answers, then apply the start-up faults."""
        started = time.perf_counter()
        faults = self._parse_faults(self.options.faults)
        ports = self._reserve_ports()
        state = self.options.state_dir.resolve()
        (state / "outbox").mkdir(parents=True, exist_ok=True)
        try:
            self._timed("population", lambda: setattr(self, "population", generate(
                self.options.seed, self.options.size, self.options.as_of)))
            self._start_http(ports, state)
            self._timed("recordings", self._seed_recordings)
            self._timed("billing", lambda: self._start_billing(ports["billing"], state))
            self._timed("ready", self._wait_ready)
        except BaseException:
            self.stop()
            raise
        self.board.replace(faults)
        self.timings["total"] = time.perf_counter() - started
        return self.settings

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            stop()
        self._stoppers.clear()

    def __enter__(self) -> Federation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults -----------------------------------------------------------------------------------

    def _parse_faults(self, spec: str) -> list[Fault]:
        faults = parse_spec(spec)
        self.check_faults(faults)
        return faults

    def check_faults(self, faults: list[Fault]) -> None:
        if self.options.billing_url:
            return
        refusal = sqlite_fault_error(faults)
        if refusal:
            raise FaultSpecError(refusal)

    def set_faults(self, spec: str) -> None:
        self.board.replace(self._parse_faults(spec))

    # -- services ---------------------------------------------------------------------------------

    def _reserve_ports(self) -> dict[str, int]:
        base = self.options.port_base
        ports = {name: (base + offset if base else 0) for name, offset in PORT_OFFSETS.items()}
        for name, port in ports.items():
            if port and not _port_free(self.options.host, port):
                raise PortInUseError(f"{name}: port {port} on {self.options.host} is already in use "
                                     f"(choose another --port-base)")
        return ports

    def _host(self, name: str, app: Any, port: int, system: str | None = None, **injector: Any) -> ServiceHost:
        wsgi = FaultInjector(app, system, self.board, **injector) if system else app
        host = ServiceHost(system or name, wsgi, port, self.options.host, board=self.board if system else None)
        host.start()
        self.hosts[name] = host
        self._stoppers.append(host.stop)
        return host

    def _start_http(self, ports: dict[str, int], state: Path) -> None:
        pop = self.population
        assert pop is not None
        secret = secrets.token_urlsafe
        volt = VoltConfig(client_id="dsar-pipeline", client_secret=secret(24), jwt_secret=secret(32),
                          rate_per_second=self.options.volt_rate_per_second)
        portal = PortalConfig(api_key=secret(24))
        avp = AvpConfig(client_id="dsar-pipeline", client_secret=secret(24), jwt_secret=secret(32),
                        supplier_eic=SUPPLIER_EIC, max_period_days=self.options.avp_max_period_days,
                        max_page_size=self.options.avp_max_page_size,
                        min_call_interval_s=self.options.avp_min_call_interval_s)
        gateways = GatewayConfig(outbox_dir=state / "outbox", api_key=secret(24), callback_secret=secret(32))
        # Two AWS accounts: the call centre's recordings (a source system, faults `recordings=...`) and the
        # controller's own inbox, work store, packages and KMS (no fault of the sandbox reaches it).
        s3 = self._host("recordings", create_s3_app(CALL_CENTRE), ports["recordings"], "recordings",
                        error_body=s3_error_body)
        own = self._host("controller-aws", create_s3_app(CONTROLLER), ports["controller-aws"])
        self._host("volt", create_volt_app(pop, volt), ports["volt"], "volt")
        self._host("portal", create_portal_app(pop, portal), ports["portal"], "portal")
        self._host("avp", create_avp_app(pop, avp), ports["avp"], "avp", error_body=avp_fault_error_body)
        gw = self._host("gateways", create_gateway_app(gateways), ports["gateways"])
        eid = SandboxEid(state)  # the eID CA of this state dir: the pipeline's trust anchor for signed requests
        self._host("control", create_control_app(
            self.board, {name: h.url for name, h in self.hosts.items()},
            lambda: named_people(population=pop),
            lambda body, name: drop_ticket(own.url, body, name, REGION), self.check_faults,
            sign=lambda person, file_name, data, level, signing_time: eid.sign_container(
                [(file_name, data)], pop.case(person), signing_time=signing_time, level=level),
            revoke=lambda person: eid.revoke(pop.case(person)),
            certificate=lambda person, usage: eid.certificate_der(pop.case(person), usage)),
            ports["control"])
        self.settings.update({
            "DSAR_ENV": "embedded",
            "DSAR_VOLT_BASE_URL": self.hosts["volt"].url,
            "DSAR_VOLT_TOKEN_URL": f"{self.hosts['volt'].url}/oauth/token",
            "DSAR_VOLT_CLIENT_ID": volt.client_id,
            "DSAR_VOLT_CLIENT_SECRET": volt.client_secret,
            "DSAR_PORTAL_BASE_URL": self.hosts["portal"].url,
            "DSAR_PORTAL_API_KEY": portal.api_key,
            "DSAR_AVP_BASE_URL": self.hosts["avp"].url,
            "DSAR_AVP_TOKEN_URL": f"{self.hosts['avp'].url}/oauth/token",
            "DSAR_AVP_CLIENT_ID": avp.client_id,
            "DSAR_AVP_CLIENT_SECRET": avp.client_secret,
            "DSAR_AVP_MARKET_PARTICIPANT_EIC": avp.supplier_eic,
            "DSAR_AVP_MAX_PERIOD_DAYS": str(avp.max_period_days),
            "DSAR_AVP_MAX_PAGE_SIZE": str(avp.max_page_size),
            "DSAR_AVP_MIN_CALL_INTERVAL_SECONDS": f"{avp.min_call_interval_s:g}",
            "DSAR_RECORDINGS_ENDPOINT_URL": s3.url,
            "DSAR_RECORDINGS_REGION": REGION,
            "DSAR_RECORDINGS_ACCESS_KEY_ID": CALL_CENTRE.access_key_id,
            "DSAR_RECORDINGS_SECRET_ACCESS_KEY": CALL_CENTRE.secret_access_key,
            "DSAR_S3_ENDPOINT_URL": own.url,
            "DSAR_KMS_ENDPOINT_URL": own.url,
            "DSAR_AWS_REGION": REGION,
            "DSAR_AWS_ACCESS_KEY_ID": CONTROLLER.access_key_id,
            "DSAR_AWS_SECRET_ACCESS_KEY": CONTROLLER.secret_access_key,
            "DSAR_MAIL_GATEWAY_URL": f"{gw.url}/mail/v1/messages",
            "DSAR_SMS_GATEWAY_URL": f"{gw.url}/sms/v1/messages",
            "DSAR_GATEWAY_API_KEY": gateways.api_key,
            "DSAR_HELPDESK_CALLBACK_URL": f"{gw.url}/helpdesk/v1/callbacks",
            "DSAR_HELPDESK_CALLBACK_SECRET": gateways.callback_secret,
            "DSAR_TRUST_ANCHORS_DIR": str(eid.trust_dir),
            "SANDBOX_CONTROL_URL": self.hosts["control"].url,
            "SANDBOX_OUTBOX_DIR": str(state / "outbox"),
        })

    def _seed_recordings(self) -> None:
        assert self.population is not None
        info = seed_recordings(self.population, self.hosts["recordings"].url, REGION,
                               controller_url=self.hosts["controller-aws"].url)
        self.settings.update({
            "DSAR_RECORDINGS_BUCKET": info.recordings_bucket,
            "DSAR_INBOX_BUCKET": info.inbox_bucket,
            "DSAR_INBOX_PREFIX": info.inbox_prefix,
            "DSAR_PACKAGE_BUCKET": info.packages_bucket,
            "DSAR_WORK_BUCKET": info.work_bucket,
            "DSAR_KMS_KEY_ID": info.kms_key_id,
            "DSAR_AUDIT_SIGNING_KEY_ID": info.audit_signing_key_id,
        })

    def _start_billing(self, proxy_port: int, state: Path) -> None:
        assert self.population is not None
        sqlite_path = state / "billing.sqlite3"
        try:
            url = seed_database(self.population, self.options.billing_url, sqlite_path)
        except sa.exc.SQLAlchemyError as exc:  # one line naming the database, never its password
            where = sa.engine.make_url(self.options.billing_url).render_as_string(hide_password=True) \
                if self.options.billing_url else str(sqlite_path)
            cause = type(getattr(exc, "orig", None) or exc).__name__
            raise SandboxError(f"billing: cannot seed the database at {where} ({cause})") from None
        if self.options.billing_url:
            upstream = sa.engine.make_url(url)
            proxy = BillingProxy(upstream.host or "127.0.0.1", upstream.port or 5432, self.board, proxy_port,
                                 listen_host=self.options.host)
            proxy.start()
            self._stoppers.append(proxy.stop)
            url = upstream.set(host=self.options.host, port=proxy.port).render_as_string(hide_password=False)
        else:
            faults = SqliteFaults(sqlite_path, self.board)
            self._stoppers.append(getattr(faults, "stop", lambda: None))
        self.settings["DSAR_BILLING_DATABASE_URL"] = url

    # -- readiness --------------------------------------------------------------------------------

    def _wait_ready(self, timeout_s: float = 20.0) -> None:
        """Each system must answer one real request of its own protocol."""
        probes: dict[str, Callable[[], None]] = {
            "billing": self._probe_billing, "volt": self._probe_volt, "portal": self._probe_portal,
            "avp": self._probe_avp, "recordings": self._probe_recordings,
            "controller-aws": self._probe_controller_aws, "gateways": self._probe_gateways,
        }
        deadline = time.monotonic() + timeout_s
        for name, probe in probes.items():
            while True:
                try:
                    probe()
                    break
                except Exception as exc:
                    if time.monotonic() > deadline:
                        raise SandboxError(f"{name} did not become ready: {type(exc).__name__}: {exc}") from None
                    time.sleep(0.1)

    def _probe_billing(self) -> None:
        engine = sa.create_engine(self.settings["DSAR_BILLING_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()

    def _probe_volt(self) -> None:
        s = self.settings
        httpx.post(s["DSAR_VOLT_TOKEN_URL"], data={"grant_type": "client_credentials"},
                   auth=(s["DSAR_VOLT_CLIENT_ID"], s["DSAR_VOLT_CLIENT_SECRET"]), timeout=2).raise_for_status()

    def _probe_portal(self) -> None:
        s = self.settings
        httpx.get(f"{s['DSAR_PORTAL_BASE_URL']}/api/v1/users", params={"username": "readiness-probe"},
                  headers={"Authorization": f"ApiKey {s['DSAR_PORTAL_API_KEY']}"}, timeout=2).raise_for_status()

    def _probe_avp(self) -> None:
        s = self.settings
        httpx.post(s["DSAR_AVP_TOKEN_URL"], data={"grant_type": "client_credentials"},
                   auth=(s["DSAR_AVP_CLIENT_ID"], s["DSAR_AVP_CLIENT_SECRET"]), timeout=2).raise_for_status()

    def _probe_recordings(self) -> None:
        self._probe_bucket(self.settings["DSAR_RECORDINGS_ENDPOINT_URL"], CALL_CENTRE,
                           self.settings["DSAR_RECORDINGS_BUCKET"])

    def _probe_controller_aws(self) -> None:
        self._probe_bucket(self.settings["DSAR_S3_ENDPOINT_URL"], CONTROLLER, self.settings["DSAR_INBOX_BUCKET"])

    @staticmethod
    def _probe_bucket(endpoint_url: str, account: Account, bucket: str) -> None:
        s3_client("s3", endpoint_url, REGION, account=account, retries={"max_attempts": 1}, connect_timeout=2,
                  read_timeout=2).head_bucket(Bucket=bucket)

    def _probe_gateways(self) -> None:
        httpx.get(self.settings["DSAR_HELPDESK_CALLBACK_URL"], params={"subject_request_id": "probe"},
                  timeout=2).raise_for_status()

    def _timed(self, name: str, step: Callable[[], None]) -> None:
        started = time.perf_counter()
        step()
        self.timings[name] = time.perf_counter() - started


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def write_env_file(settings: dict[str, str], path: Path) -> None:
    """KEY=VALUE lines, written atomically and readable only by the owner (it holds secrets)."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{key}={value}\n" for key, value in sorted(settings.items()))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
