"""The one ordering every analytic shares: within a case, by timestamp, then source order.

Ingest stores ``seq`` (the row's position in its source, increasing across loads) so that
events with equal timestamps keep the order the source gave them.
"""

from __future__ import annotations

import ibis
from ibis import _


def case_window(events: ibis.Table):
    return ibis.window(group_by=events.case_id, order_by=[events.timestamp, events.seq])


def with_steps(events: ibis.Table) -> ibis.Table:
    """Add ``step`` (1-based position in its case) and the next event's touchpoint,
    timestamp and department (null on a case's last event)."""
    w = case_window(events)
    return events.mutate(
        step=ibis.row_number().over(w) + 1,
        next_touchpoint=_.touchpoint.lead().over(w),
        next_timestamp=_.timestamp.lead().over(w),
        next_department_id=_.department_id.lead().over(w),
    )
