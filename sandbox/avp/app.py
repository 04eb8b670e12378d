"""Sandbox of the Estonian electricity data hub (Elering AVP / e-elering), market-participant API.

Implements, over HTTP/JSON, the four read operations of the hub's published OpenAPI descriptions
(shared/specs/elering-avp/*.yml) that a DSAR needs, as an open supplier (the retailer) sees them.
Behaviour, limits and error codes below are this service's contract; request and answer bodies
follow the YAML files (property names, enums, formats).

Authentication (OAuth2 client credentials, RFC 6749 4.4)
    POST /oauth/token, form `grant_type=client_credentials`; client id/secret in HTTP Basic auth or
    as form fields `client_id` / `client_secret`.
    200 {"access_token": <JWT, HS256>, "token_type": "Bearer", "expires_in": 300}.
    Errors (OAuth2 style, not problems): 400 {"error": "unsupported_grant_type"},
    401 {"error": "invalid_client"}. Not rate-limited; no document headers.
    Every /api call needs `Authorization: Bearer <access_token>`; missing, invalid or expired
    (after `expires_in` seconds: fetch a new token and retry) -> 401 problem, codes
    MISSING_TOKEN | INVALID_TOKEN | TOKEN_EXPIRED, with `WWW-Authenticate: Bearer ...`.

Document headers (every /api call)
    Request: `x-document-date-time` (ISO 8601 with zone, e.g. 2026-11-01T10:00:00Z) and
    `x-document-identification` (a UUID, new per call). Missing -> 400 MISSING_HEADER,
    malformed -> 400 INVALID_HEADER.
    Every /api answer (errors too) carries its own `x-document-date-time`,
    `x-document-identification`, `status` (the HTTP status) and, when the request's id was a UUID,
    `x-original-document-identification` = that id.

Common request part
    `marketParticipantContext`: {"marketParticipantIdentification": <the retailer's party EIC>,
    "marketParticipantRole": "OPEN_SUPPLIER", "commodityType": "ELECTRICITY"}. Another party EIC or
    role -> 403 FORBIDDEN. NATURAL_GAS: the hub holds no gas data here -> 404 on meter operations.
    Bodies are JSON objects; unknown properties are ignored; schema violations -> 400
    VALIDATION_ERROR with a message naming the property.

POST /api/v1/customer/search  (customer.yml, operationId get-customer)
    {"marketParticipantContext": ..., "customerTypes": ["PHYSICAL_PERSON"], "activeOnly": false,
     "searchCriteria": {"identityType": "PERSONAL_ID", "identityValue": "38001085718",
                        "identityExtension": [{"extensionType": "COUNTRY", "extensionValue": "EE"}]}}
    (`identityExtension` optional; identityType EIC with a customer EIC works as well; other
    identity types -> 422 UNSUPPORTED_IDENTITY_TYPE.) The spec lists `identities` as required in
    searchCriteria although it is not among its properties: send identityType + identityValue.
    200 {"identities": [{"customerType": "PHYSICAL_PERSON",
         "customerMetadata": [{"metadataType": FIRST_NAME|LAST_NAME|EMAIL|MOBILE_PHONE, "metadataValue"}],
         "customerIdentities": [{"identityType": "PERSONAL_ID", "identityValue": <code>, ...},
                                {"identityType": "EIC", "identityValue": <customer EIC>}]}]}
    404 NOT_FOUND: no such customer in the hub (only Estonian customers are; `customerTypes`
    without PHYSICAL_PERSON; `activeOnly: true` and no contract in force).

POST /api/v1/meter/search/customer  (meteringPoint.yml, get-metering-points-by-customer)
    {"marketParticipantContext": ..., "customerEic": ["38X-EE-...."]}
    200 {"customerEic": [<the requested EICs that are known>],
         "meteringPoints": [{"meteringPoint": {"meterEic", "commodityType", "meteringType",
           "meteringPointType", "sourceType", "version"}, "location": {"adrId", "streetAddress",
           "locality", "county", "municipality", "postcode"}, "electricityCharacteristics":
           {..., "production": bool, "resolution": "PT15M"}, "customerEic": <owner>}]}
    All metering points the customer has or had a supply agreement for (ended ones too), no paging.
    404 NOT_FOUND if none of the EICs has a metering point.

POST /api/v1/agreement/search/meter  (agreement.yml, get-agreement-meter)
    {"marketParticipantContext": ..., "meterEic": ["38ZEE-...", ...]}  (at least one)
    200 {"meteringPoints": [{"meterEic", "agreements": [
           {"agreementId", "meterEic", "agreementType": "SUPPLY"|"GRID",
            "serviceProvider": {"serviceProviderEic", "serviceProviderName"},
            "customer": {"customerEic", "customerName"}, "commodityType": "ELECTRICITY",
            "validFrom", "validTo"?}]}]}
    SUPPLY: the retailer (its party EIC); GRID: Elektrilevi OÜ, party EIC 38XELEKTRILEVI-C.
    Validity is half-open, in UTC: validFrom = local midnight of the first supply day, validTo
    (absent while in force) = local midnight after the last day. Unknown meters are left out;
    404 NOT_FOUND if none is known.

POST /api/v1/meter-data/search  (meteringData.yml, get-meter-data)
    {"marketParticipantContext": ...,
     "meterAttributes": {"meterEic": "38ZEE-...", "periodStart": "2025-03-31T21:00:00Z",
                         "periodEnd": "2025-04-30T21:00:00Z"},
     "pagination": {"page": 0, "pageSize": 3000}}
    One meter per call. The period is half-open [periodStart, periodEnd) on interval starts;
    periodEnd defaults to periodStart + the maximum period.
    200 {"meterEic", "commodityType": "ELECTRICITY",
         "periods": [{"r": "PT1H"|"PT15M", "aI": [{"pS": "2025-03-31T21:00:00Z",
             "inQty": {"rTime", "rType": "M"|"E", "kwh"}?, "outQty": {"rTime", "rType", "kwh"}}]}],
         "pagination": {"page", "totalPages"}}
    (The spec lists `period` as required beside `periods`: the answer has the documented `periods`.)
    - `outQty` = out of the grid = consumption; `inQty` = into the grid = production, present only on
      meters with production and only while the sun is up. kWh per interval, at most 3 decimals.
      Note: a float-based `multipleOf: 0.001` check (e.g. jsonschema) wrongly rejects about 13% of
      such values (0.043 / 0.001 != 43 in binary floating point); parse numbers as Decimal.
    - Resolution: PT1H before 2025-04-01 local time, PT15M from then on; `pS` is the interval start
      in UTC; interval end = pS + r. DST days have 23 / 25 hours (92 / 100 quarter-hours).
    - rType E = estimated, M = metered. `rTime` = when the hub recorded the value: minutes after the
      interval; the next morning for estimates; weeks later for a corrected value (up to 12 months).
    - Intervals missing in the hub are absent (a period's `aI` may have holes): always use `pS`.
    - Data exists within the supply period, at most 84 months back, up to the sandbox's today
      (population `as_of`, local midnight).
    Paging: the period's intervals in time order, `pageSize` per page; pages count from 0;
    `periods` groups a page's consecutive intervals by resolution (a page spanning 2025-04-01 has
    two). 404 NOT_FOUND: unknown meter, no data in the period, or page >= totalPages.

Limits (the same for all /api operations; values from AvpConfig)
    - Period per meter-data call: at most `max_period_days` (default 31) calendar days in
      Europe/Tallinn (a DST day counts as one day, so 1 Oct 00:00 .. 1 Nov 00:00 local is fine)
      -> 422 PERIOD_TOO_LONG. periodEnd <= periodStart -> 400 VALIDATION_ERROR.
    - pageSize at most `max_page_size` (default 3000: 31 days x 96 quarter-hours + a DST hour fit
      one page) -> 400 PAGE_SIZE_TOO_LARGE.
    - Call rate per client (token subject): at least `min_call_interval_s` (default 0.05 s) between
      accepted calls, counted from the previous accepted call -> 429 TOO_MANY_REQUESTS with
      `Retry-After: <seconds>`, a decimal that may be fractional (e.g. "0.047"); wait that long and
      retry. Refused calls do not move the clock; concurrent calls of one client collide. 0
      disables the limit. (The real public API allows about one call per 5 s.)

Ground truth for tests (not part of the wire API): `sandbox.avp.series.series_for(population, meter)`
gives the exact intervals the hub serves, `anomalies_of(population, meter_eic)` its gaps, estimated
days and corrections.

Errors: every /api error body is {"problem": {"code": <code above>, "message": <text>}}; unknown
paths 404 NOT_FOUND, wrong method 405 METHOD_NOT_ALLOWED, unexpected failures 500 INTERNAL_ERROR.
Nothing personal is logged (no URLs, bodies or identifiers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import flask
from flask import Response, request
from werkzeug.exceptions import HTTPException

from sandbox.avp import documents
from sandbox.avp.auth import TokenService
from sandbox.avp.limits import CallRateLimiter
from sandbox.avp.meterdata import Limits, check_page, check_period, meter_data_json
from sandbox.avp.protocol import (
    Problem,
    add_document_headers,
    check_document_headers,
    json_response,
    json_text_response,
    problem_response,
)
from sandbox.avp.registry import Registry
from sandbox.avp.series import TZ, MeterSeries, series_for
from sandbox.avp.validation import eic, field, invalid, json_body, market_participant, zoned_datetime
from sandbox.population import Population

log = logging.getLogger(__name__)

CUSTOMER_TYPES = {"PHYSICAL_PERSON", "LEGAL_PERSON", "ORGANIZATION", "MARKET_PARTICIPANT"}
IDENTITY_TYPES = {"NAME", "EIC", "PERSONAL_ID", "COMPANY_ID", "DOCUMENT_ID", "EMBASSY_ID"}


@dataclass
class AvpConfig:
    client_id: str
    client_secret: str
    jwt_secret: str
    supplier_eic: str
    max_period_days: int = 31
    max_page_size: int = 3000
    min_call_interval_s: float = 0.05


class _Hub:
    """The operations, with the registry, token service and limits of one app instance."""

    def __init__(self, population: Population, config: AvpConfig) -> None:
        self.config = config
        self.registry = Registry(population)
        self.population = population
        self.tokens = TokenService(config.client_id, config.client_secret, config.jwt_secret)
        self.limiter = CallRateLimiter(config.min_call_interval_s)
        self.limits = Limits(config.max_period_days, config.max_page_size)
        self._series: dict[str, MeterSeries] = {}

    def guarded(self, operation: Callable[[dict[str, Any]], Response]) -> Response:
        """Gate of every /api call: bearer, rate limit, document headers, JSON body."""
        client = self.tokens.client_of(request.headers.get("Authorization"))
        self.limiter.admit(client)
        check_document_headers()
        return operation(json_body())

    # -- operations -----------------------------------------------------------------------------------

    def customer_search(self, body: dict[str, Any]) -> Response:
        market_participant(body, self.config.supplier_eic)
        types = field(body, "customerTypes", list)
        if not types or any(t not in CUSTOMER_TYPES for t in types):
            raise invalid("customerTypes must list at least one known customer type")
        active_only = field(body, "activeOnly", bool)
        criteria = field(body, "searchCriteria", dict)
        identity_type = field(criteria, "identityType", str, "searchCriteria")
        value = field(criteria, "identityValue", str, "searchCriteria")
        if identity_type not in IDENTITY_TYPES:
            raise invalid("searchCriteria.identityType is not a known identity type")
        extensions = criteria.get("identityExtension", [])
        if not isinstance(extensions, list) or any(not isinstance(e, dict) for e in extensions):
            raise invalid("searchCriteria.identityExtension must be a list of objects")
        if identity_type == "PERSONAL_ID":
            customer = self.registry.customer_by_personal_code(value)
        elif identity_type == "EIC":
            customer = self.registry.customer_by_eic(value)
        else:
            raise Problem(422, "UNSUPPORTED_IDENTITY_TYPE", "search by PERSONAL_ID or EIC")
        countries = {e.get("extensionValue") for e in extensions if e.get("extensionType") == "COUNTRY"}
        if (customer is None or "PHYSICAL_PERSON" not in types or (countries and countries != {"EE"})
                or (active_only and not self.registry.has_active_contract(customer))):
            raise Problem(404, "NOT_FOUND", "no customer matches the search criteria")
        return json_response({"identities": [documents.customer_identity(customer)]})

    def meters_of_customer(self, body: dict[str, Any]) -> Response:
        commodity = market_participant(body, self.config.supplier_eic)
        wanted = field(body, "customerEic", list)
        if not wanted:
            raise invalid("customerEic must list at least one customer EIC")
        codes = [eic(value, f"customerEic[{i}]") for i, value in enumerate(wanted)]
        found, meters = [], []
        for code in dict.fromkeys(codes):
            entries = self.registry.meters_of(code) if commodity == "ELECTRICITY" else []
            if entries:
                found.append(code)
                meters.extend(documents.meter_metadata(entry) for entry in entries)
        if not meters:
            raise Problem(404, "NOT_FOUND", "no metering points for the given customers")
        return json_response({"customerEic": found, "meteringPoints": meters})

    def agreements_of_meters(self, body: dict[str, Any]) -> Response:
        commodity = market_participant(body, self.config.supplier_eic)
        wanted = field(body, "meterEic", list)
        if not wanted:
            raise invalid("meterEic must list at least one metering point EIC")
        codes = [eic(value, f"meterEic[{i}]") for i, value in enumerate(wanted)]
        points = []
        for code in dict.fromkeys(codes):
            entry = self.registry.meter(code) if commodity == "ELECTRICITY" else None
            if entry is not None:
                points.append(documents.meter_agreements(entry, self.config.supplier_eic))
        if not points:
            raise Problem(404, "NOT_FOUND", "none of the metering points is known")
        return json_response({"meteringPoints": points})

    def meter_data(self, body: dict[str, Any]) -> Response:
        commodity = market_participant(body, self.config.supplier_eic)
        attributes = field(body, "meterAttributes", dict)
        meter_eic = eic(field(attributes, "meterEic", str, "meterAttributes"), "meterAttributes.meterEic")
        start = zoned_datetime(field(attributes, "periodStart", str, "meterAttributes"), "meterAttributes.periodStart")
        if attributes.get("periodEnd") is None:
            local = start.astimezone(TZ).replace(tzinfo=None) + timedelta(days=self.limits.max_period_days)
            end: datetime = local.replace(tzinfo=TZ)
        else:
            end = zoned_datetime(attributes["periodEnd"], "meterAttributes.periodEnd")
        paging = field(body, "pagination", dict)
        page = field(paging, "page", int, "pagination")
        page_size = field(paging, "pageSize", int, "pagination")
        check_period(start, end, self.limits)
        check_page(page, page_size, self.limits)
        entry = self.registry.meter(meter_eic)
        if entry is None or commodity != "ELECTRICITY":
            raise Problem(404, "NOT_FOUND", "unknown metering point")
        series = self._series.get(meter_eic)
        if series is None:
            series = self._series.setdefault(meter_eic, series_for(self.population, entry.meter))
        return json_text_response(meter_data_json(series, start, end, page, page_size))


def create_app(population: Population, config: AvpConfig) -> flask.Flask:
    """The hub as a WSGI app; serve it with `sandbox.hosting.ServiceHost`."""
    hub = _Hub(population, config)
    app = flask.Flask("sandbox.avp")

    routes: dict[str, Callable[[dict[str, Any]], Response]] = {
        "/api/v1/customer/search": hub.customer_search,
        "/api/v1/meter/search/customer": hub.meters_of_customer,
        "/api/v1/agreement/search/meter": hub.agreements_of_meters,
        "/api/v1/meter-data/search": hub.meter_data,
    }
    for path, operation in routes.items():
        app.add_url_rule(path, endpoint=path, methods=["POST"],
                         view_func=lambda operation=operation: hub.guarded(operation))
    app.add_url_rule("/oauth/token", endpoint="token", methods=["POST"],
                     view_func=lambda: hub.tokens.token_endpoint(request))

    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        code = (error.name or "error").upper().replace(" ", "_")
        return problem_response(Problem(error.code or 500, code, error.description or code))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # type only: messages of unexpected errors may quote personal data from the request
        log.error("avp: unexpected %s in %s", type(error).__name__, request.endpoint)
        return problem_response(Problem(500, "INTERNAL_ERROR", "internal error"))

    @app.after_request
    def _stamp(response: Response) -> Response:
        if request.path.startswith("/api/"):
            add_document_headers(response)
        return response

    return app
