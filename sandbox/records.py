"""Record types of the simulated organisations, one dataclass per table or resource.

These are the sandbox's own view of the world (what each system stores). The pipeline never sees
these classes: it reads the systems over their protocols and builds its own types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

# --- who is who (ground truth; no system serves this table) -------------------------------------


@dataclass(slots=True)
class Person:
    key: str
    case: str | None
    country: str  # EE | LV
    language: str  # et | lv | ru | en
    first_name: str
    last_name: str
    personal_code: str
    birth_date: date
    email: str | None
    phone: str | None
    address: str
    city: str


# --- billing (SQL) -------------------------------------------------------------------------------


@dataclass(slots=True)
class Customer:
    id: int
    person_key: str
    kind: str  # private | sole_trader
    legal_entity: str  # enefit-ee | enefit-lv
    personal_code: str
    first_name: str
    last_name: str
    business_name: str | None
    business_reg_code: str | None
    language: str
    created_at: datetime


@dataclass(slots=True)
class Contact:
    id: int
    customer_id: int
    kind: str  # email | phone | address
    value: str
    is_primary: bool
    valid_from: date


@dataclass(slots=True)
class Contract:
    id: int
    customer_id: int
    number: str
    product: str
    start_date: date
    end_date: date | None
    status: str  # active | ended


@dataclass(slots=True)
class MeteringPoint:
    id: int
    contract_id: int
    eic: str
    address: str
    country: str
    time_zone: str
    grid_operator: str
    has_production: bool


@dataclass(slots=True)
class Invoice:
    id: int
    customer_id: int
    contract_id: int
    number: str
    issue_date: date
    due_date: date
    period_start: date
    period_end: date
    total_eur: float
    status: str  # paid | unpaid


@dataclass(slots=True)
class InvoiceLine:
    id: int
    invoice_id: int
    description: str
    quantity: float
    unit: str
    unit_price_eur: float
    amount_eur: float


@dataclass(slots=True)
class Payment:
    id: int
    invoice_id: int
    customer_id: int
    paid_at: datetime
    amount_eur: float
    method: str
    payer_account_masked: str


@dataclass(slots=True)
class Debt:
    id: int
    customer_id: int
    invoice_id: int
    amount_eur: float
    since: date
    status: str  # open | in_collection | settled


@dataclass(slots=True)
class CollectionStep:
    id: int
    debt_id: int
    step: str  # reminder | final_notice | collection_agency
    taken_at: date
    agency: str | None


@dataclass(slots=True)
class CreditCheck:
    id: int
    customer_id: int
    bureau: str
    checked_at: datetime
    score: int
    decision: str  # approved | deposit_required | declined
    automated: bool
    logic: str


# --- Volt charging app (REST) ---------------------------------------------------------------------


@dataclass(slots=True)
class VoltAccount:
    id: str
    person_key: str
    email: str
    phone: str | None
    google_sub: str | None
    display_name: str
    created_at: datetime
    status: str  # active | closed
    customer_id: int | None = None  # billing customer number the user linked for contract discounts


@dataclass(slots=True)
class VoltSignup:
    """An unfinished sign-up: the app keeps it 48 h, the sandbox keeps some older ones (a finding)."""

    id: str
    person_key: str
    email: str
    phone: str | None
    started_at: datetime
    step_reached: str


@dataclass(slots=True)
class Vehicle:
    id: str
    account_id: str
    make: str
    model: str
    mac_address: str
    added_at: datetime


@dataclass(slots=True)
class PaymentCard:
    id: str
    account_id: str
    brand: str
    masked_pan: str
    expiry: str  # MM/YY
    added_at: datetime


@dataclass(slots=True)
class ChargingSession:
    id: str
    account_id: str
    vehicle_id: str | None
    station_id: str
    station_name: str
    latitude: float
    longitude: float
    started_at: datetime
    ended_at: datetime
    energy_kwh: float
    price_eur: float


@dataclass(slots=True)
class AppConsent:
    id: str
    account_id: str
    purpose: str
    granted: bool
    recorded_at: datetime


# --- self-service portal (REST) -------------------------------------------------------------------


@dataclass(slots=True)
class PortalUser:
    username: str
    person_key: str
    email: str
    phone: str | None
    personal_code: str | None  # present when the user ever logged in with an eID
    customer_id: int | None
    language: str
    created_at: datetime


@dataclass(slots=True)
class LoginEvent:
    id: int
    username: str
    at: datetime
    ip: str
    user_agent: str
    method: str  # password | smart-id | id-card | mobile-id
    success: bool


@dataclass(slots=True)
class PortalConsent:
    id: int
    username: str
    purpose: str
    channel: str
    granted: bool
    recorded_at: datetime


@dataclass(slots=True)
class CookieConsent:
    id: int
    username: str
    consent_id: str
    recorded_at: datetime
    categories: list[str]
    ip: str


@dataclass(slots=True)
class PortalMessage:
    id: int
    username: str
    sent_at: datetime
    direction: str  # from_customer | to_customer
    subject: str
    body: str


@dataclass(slots=True)
class PortalDocument:
    id: int
    username: str
    title: str
    kind: str
    created_at: datetime
    size_bytes: int


# --- call recordings (S3) -------------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    id: str
    person_key: str  # who really called (ground truth, not stored in S3)
    caller_number: str
    customer_id: int | None  # set when the agent matched the caller to a customer
    agent_id: str
    agent_name: str
    started_at: datetime
    duration_s: int
    queue: str
    channel: str  # voice | chatbot
    language: str
    transcript: list[dict[str, str]] = field(default_factory=list)

    @property
    def audio_key(self) -> str | None:
        if self.channel != "voice":
            return None
        return f"audio/{self.started_at:%Y/%m/%d}/{self.id}.wav"

    @property
    def metadata_key(self) -> str:
        return f"metadata/{self.started_at:%Y/%m/%d}/{self.id}.json"


# --- AVP data hub ---------------------------------------------------------------------------------


@dataclass(slots=True)
class HubCustomer:
    person_key: str
    personal_code: str
    customer_eic: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
