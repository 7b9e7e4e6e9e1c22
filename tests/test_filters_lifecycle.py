"""The lifecycle filter: events of the chosen XES lifecycle states, compared without
regard to case, on every engine; events without a lifecycle do not pass; events that have
no lifecycle column at all are refused in one sentence."""

from __future__ import annotations

import pandas as pd
import pytest

from corridor.covers import describe_filter
from corridor.errors import InputError
from corridor.filters import EventFilter, apply

from helpers import START, canonical_events


def events_with(states) -> pd.DataFrame:
    frame = pd.DataFrame({
        "case_id": ["c1"] * len(states),
        "touchpoint": [f"t{i}" for i in range(len(states))],
        "timestamp": [START + pd.Timedelta(minutes=i) for i in range(len(states))],
    })
    frame = canonical_events(frame)
    frame["lifecycle"] = pd.Series(states, dtype="string")
    return frame


STATES = ["SCHEDULE", "START", "COMPLETE", "complete", None, "suspend"]


def test_lifecycle_keeps_the_events_of_the_chosen_states_in_any_case(put):
    events = put(events_with(STATES))
    kept = apply(events, EventFilter(lifecycles=("Complete",))).to_pandas()
    assert sorted(kept.touchpoint) == ["t2", "t3"]
    either = apply(events, EventFilter(lifecycles=("complete", "START"))).to_pandas()
    assert sorted(either.touchpoint) == ["t1", "t2", "t3"]


def test_lifecycle_combines_with_the_other_filters(put):
    events = put(events_with(STATES))
    kept = apply(events, EventFilter(lifecycles=("complete",), touchpoints=("t3", "t4")))
    assert kept.to_pandas().touchpoint.tolist() == ["t3"]


def test_events_without_a_lifecycle_column_are_refused_with_the_filter(put):
    events = put(events_with(STATES).drop(columns="lifecycle"))
    assert apply(events, EventFilter()).count().execute() == len(STATES)
    with pytest.raises(InputError, match="lifecycle column"):
        apply(events, EventFilter(lifecycles=("complete",)))


def test_lifecycles_must_be_a_tuple_and_are_described_in_words():
    with pytest.raises(InputError, match="lifecycles must be a tuple"):
        EventFilter(lifecycles="complete")
    assert not EventFilter(lifecycles=("complete",)).is_empty
    assert describe_filter(EventFilter(lifecycles=("complete",))) == "events of lifecycle complete"
