"""Why a page, or one section of it, cannot be computed: a typed state in the page
model instead of an exception, a 500 or a misleading 0.

A page computation that finds the project's tables cannot give a figure returns an
:class:`Unavailable` in its place; the template shows it as one sentence in the page's
language (``unavailable.<why>`` in ``locales/<lang>/unavailable.json``, through the
``_unavailable.html`` macro), and the page answers 200. The report (``corridor report``)
renders the pages, so its sections carry the same sentences.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Why(str, enum.Enum):
    """The reason a figure cannot be computed; its value names the message."""

    NO_EVENTS = "no_events"  # the project holds no events
    NO_TRANSACTIONS = "no_transactions"  # the project holds no transactions
    NO_EVENTS_OR_TRANSACTIONS = "no_events_or_transactions"
    NO_PURCHASES = "no_purchases"  # transactions, but none is a purchase
    TOO_FEW_PURCHASES = "too_few_purchases"  # the CLV model cannot be fitted to them
    NO_CUSTOMERS = "no_customers"  # the customers table is empty
    NO_MARGIN = "no_margin"  # transactions without margin: profit unknown
    NO_COST = "no_cost"  # no events: cost to serve, and profit, unknown
    NO_LIFETIME = "no_lifetime"  # revenue at risk needs a lifetime value
    NO_EXPERIENCES = "no_experiences"  # revenue at risk needs events or feedback
    NO_CORRIDOR = "no_corridor"  # target segments: no journey corridor to fit
    FEW_TOUCHPOINTS = "few_touchpoints"  # a funnel takes at least two touchpoints


@dataclass(frozen=True)
class Unavailable:
    """A figure or section that cannot be computed, and why."""

    why: Why

    @property
    def key(self) -> str:
        """The message key of the sentence that says why."""
        return f"unavailable.{self.why.value}"


@dataclass(frozen=True)
class Holdings:
    """Which of the project's tables hold any row."""

    events: bool
    transactions: bool
    feedback: bool
    customers: bool


def project_holdings(project_path) -> Holdings:
    """:func:`holdings` of the project at ``project_path``, opened read-only (pages keep
    it with ``site.cached("holdings", project_holdings)``)."""
    from .store import Project

    with Project.open(project_path, read_only=True) as p:
        return holdings(p)


def holdings(project) -> Holdings:
    """Which tables of the open ``project`` hold rows (one cheap query each)."""

    def has(table: str) -> bool:
        return project.con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None

    return Holdings(events=has("events"), transactions=has("transactions"),
                    feedback=has("feedback"), customers=has("customers"))
