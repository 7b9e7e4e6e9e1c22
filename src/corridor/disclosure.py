"""Results as a role without personal-data access may see them.

One rule decides who sees which customer a figure is about: the roles with
:attr:`corridor.accounts.Permission.CUSTOMER_PII` (manager, analyst, admin) see customer
ids (the pseudonyms of a pseudonymised project), and customers' own words; the other
roles (staff, department head) see the same figures with every customer id masked. The
academy's risk queue, the personas' quotes, the customers page and the JSON API all
follow it; :func:`without_customer_ids` applies it to a result's ``to_dict()``.
"""

from __future__ import annotations

from typing import Any

# Fields of the results' to_dict() that hold a customer id.
CUSTOMER_ID_FIELDS = frozenset({"customer_id", "intermediary_id", "parent_id", "ancestor_id"})
# Lists of groups whose ``key`` is a customer id (profitability per intermediary).
CUSTOMER_KEYED_GROUPS = frozenset({"by_intermediary"})


def without_customer_ids(data: Any) -> Any:
    """``data`` (a result's ``to_dict()``: dicts, lists and plain values) with every
    customer id replaced by None; the figures beside them stay."""
    if isinstance(data, dict):
        masked = {}
        for key, value in data.items():
            if key in CUSTOMER_ID_FIELDS:
                masked[key] = None
            elif key in CUSTOMER_KEYED_GROUPS and isinstance(value, list):
                masked[key] = [{**without_customer_ids(g), "key": None}
                               if isinstance(g, dict) else g for g in value]
            else:
                masked[key] = without_customer_ids(value)
        return masked
    if isinstance(data, (list, tuple)):
        return [without_customer_ids(v) for v in data]
    return data
