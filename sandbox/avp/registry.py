"""The data hub's registry: who is a customer, which metering points and agreements they have.

The hub knows only Estonian metering points and customers registered with it
(`Population.hub_customers`). A customer's meters are found through the retailer's contracts:
hub customer -> person -> billing customers -> contracts -> metering points with country EE.
Built once per app (indexes), read-only afterwards, so request threads share it freely.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox import records as r
from sandbox.population import Population

GRID_OPERATOR_EIC = "38XELEKTRILEVI-C"  # sandbox party EIC of the grid operator (check character valid)
GRID_OPERATOR_NAME = "Elektrilevi OÜ"


@dataclass(frozen=True, slots=True)
class HubMeter:
    """A metering point as the hub holds it: the meter, the contract behind it, its customer."""

    meter: r.MeteringPoint
    contract: r.Contract
    customer: r.HubCustomer


class Registry:
    """Indexes of the hub's customers and meters."""

    def __init__(self, population: Population) -> None:
        self.population = population
        self._by_code = {c.personal_code: c for c in population.hub_customers}
        self._by_eic = {c.customer_eic: c for c in population.hub_customers}
        contracts = {c.id: c for c in population.contracts}
        customers = {c.id: c for c in population.customers}
        hub_by_person = {c.person_key: c for c in population.hub_customers}
        self._meters: dict[str, HubMeter] = {}
        self._meters_of: dict[str, list[HubMeter]] = {}
        for meter in population.metering_points:
            if meter.country != "EE":
                continue
            contract = contracts[meter.contract_id]
            hub_customer = hub_by_person.get(customers[contract.customer_id].person_key)
            if hub_customer is None:
                continue
            entry = HubMeter(meter, contract, hub_customer)
            self._meters[meter.eic] = entry
            self._meters_of.setdefault(hub_customer.customer_eic, []).append(entry)

    def customer_by_personal_code(self, code: str) -> r.HubCustomer | None:
        return self._by_code.get(code)

    def customer_by_eic(self, eic: str) -> r.HubCustomer | None:
        return self._by_eic.get(eic)

    def meters_of(self, customer_eic: str) -> list[HubMeter]:
        return list(self._meters_of.get(customer_eic, []))

    def meter(self, meter_eic: str) -> HubMeter | None:
        return self._meters.get(meter_eic)

    def has_active_contract(self, customer: r.HubCustomer) -> bool:
        as_of = self.population.as_of
        return any(m.contract.end_date is None or m.contract.end_date >= as_of
                   for m in self._meters_of.get(customer.customer_eic, []))
