"""The named edge cases as plain dictionaries: what a tester or a demo needs to file a request.

Only identifiers the person would know about themselves are listed (personal code, e-mail, phone,
customer number, the EICs on their invoices, their Volt account id and portal user name); which
system holds what is left for the pipeline to discover.
"""

from __future__ import annotations

from functools import lru_cache

from sandbox.population import AS_OF_DEFAULT, CASES, DEFAULT_SEED, DEFAULT_SIZE, Population, generate


@lru_cache(maxsize=4)
def _population(seed: int, size: int) -> Population:
    return generate(seed=seed, size=size, as_of=AS_OF_DEFAULT)


def named_people(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE,
                 population: Population | None = None) -> list[dict[str, object]]:
    """One dictionary per named edge case, in the order of `CASES`."""
    pop = population or _population(seed, size)
    people = []
    for name, description in CASES.items():
        person = pop.case(name)
        customers = pop.customer_of(person.key)
        meters = [m.eic for c in customers for m in pop.meters_of(c.id)]
        volt = next((a.id for a in pop.volt_accounts if a.person_key == person.key), None)
        portal = next((u.username for u in pop.portal_users if u.person_key == person.key), None)
        hub = next((h.customer_eic for h in pop.hub_customers if h.person_key == person.key), None)
        people.append({
            "name": name,
            "description": description,
            "personal_code": person.personal_code,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "phone": person.phone,
            "country": person.country,
            "language": person.language,
            "customer_id": customers[0].id if customers else None,
            "metering_point_eics": meters,
            "customer_eic": hub,
            "volt_account_id": volt,
            "portal_username": portal,
        })
    return people
