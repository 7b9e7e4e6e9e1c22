"""Accessibility on a hand-made week of contacts, identical on every engine: failures,
attempts before success, first response, service hours, failure by hour, channel switching
and first-contact resolution."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from corridor.access import (
    Dimension,
    Match,
    OpeningHours,
    ServiceHours,
    accessibility,
)
from corridor.errors import InputError
from corridor.flow import Period

from helpers import canonical_events

# Each analytic's core test runs on every engine; further behaviour is checked on DuckDB
# alone to keep the Spark run short.
duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)



def contact(case, touchpoint, when, outcome="ok", wait=None) -> dict:
    return {
        "case_id": case,
        "customer_id": case,
        "touchpoint": touchpoint,
        "timestamp": pd.Timestamp(when),
        "outcome": outcome,
        "wait_seconds": np.nan if wait is None else float(wait),
    }


def events_frame(rows: list[dict]) -> pd.DataFrame:
    """Canonical events in the given source order; channel and department come from the
    touchpoints table."""
    return canonical_events(pd.DataFrame(rows), channel=None)


TOUCHPOINTS = pd.DataFrame(
    {
        "touchpoint": ["hotline", "chat", "shop"],
        "stage": ["support", "support", "purchase"],
        "channel": ["phone", "web", "store"],
        "department_id": ["CC", "CC", "RET"],
        "role": [None, None, None],
        "attributes": [None, None, None],
    }
).astype("string")

# 2024-01-01 is a Monday. Default service hours: Mon-Fri 08-20, Sat 09-14, Sunday closed.
WEEK = [
    # a: two failed calls at lunchtime, then the chat works
    contact("a", "hotline", "2024-01-01 12:30", "failed", wait=300),
    contact("a", "hotline", "2024-01-01 12:45", "abandoned", wait=600),
    contact("a", "chat", "2024-01-01 13:00"),
    # b: calls twice about support within a week, both answered
    contact("b", "hotline", "2024-01-01 10:00", wait=30),
    contact("b", "hotline", "2024-01-03 10:00", wait=60),
    # d: a store visit on Sunday
    contact("d", "shop", "2024-01-07 11:00"),
    # e: a failed chat late in the evening, then a call that works
    contact("e", "chat", "2024-01-02 21:00", "failed"),
    contact("e", "hotline", "2024-01-02 21:30", wait=40),
    # c: a failed call on the next Saturday afternoon, never followed up
    contact("c", "hotline", "2024-01-13 15:00", "failed", wait=900),
]


@pytest.fixture
def week(put):
    return put(events_frame(WEEK)), put(TOUCHPOINTS)


def test_accessibility_per_channel(week):
    events, touchpoints = week
    result = accessibility(events, touchpoints=touchpoints)
    assert [g.channel for g in result.groups] == ["phone", "store", "web"]
    phone = result.group(channel="phone")
    assert (phone.contacts, phone.failed) == (6, 3)
    assert phone.failure_rate == 0.5
    assert phone.outside_hours == 2  # Tuesday 21:30 and Saturday 15:00
    assert phone.first_response.median_seconds == pytest.approx(180.0)
    assert phone.first_response.p90_seconds == pytest.approx(750.0)
    # episodes started on the phone: a (2 failures, then ok), b twice at the first try,
    # c never resolved
    assert (phone.resolved_episodes, phone.unresolved_episodes) == (3, 1)
    assert phone.attempts_before_success == 2
    assert phone.mean_attempts_before_success == pytest.approx(2 / 3)
    assert phone.first_try_rate == pytest.approx(2 / 3)
    # only a's second failure was followed by another channel (the chat)
    assert phone.switched_after_failure == 1
    assert phone.switch_rate == pytest.approx(1 / 3)
    # repeated on support within 7 days: a's two calls and b's first call
    assert phone.repeated == 3
    assert phone.first_contact_resolution == pytest.approx(0.5)

    web = result.group(channel="web")
    assert (web.contacts, web.failed, web.outside_hours) == (2, 1, 1)
    assert web.switched_after_failure == 1
    assert (web.resolved_episodes, web.attempts_before_success, web.repeated) == (1, 1, 1)
    assert web.first_response.median_seconds is None

    store = result.group(channel="store")
    assert (store.contacts, store.outside_hours, store.first_try_successes) == (1, 1, 1)


@duckdb_only
def test_the_start_and_complete_of_one_call_are_one_contact_not_a_repeat(put):
    rows = [{**contact("f", "hotline", "2024-01-02 10:00"), "lifecycle": "START"},
            {**contact("f", "hotline", "2024-01-02 10:20"), "lifecycle": "COMPLETE"},
            {**contact("g", "hotline", "2024-01-02 11:00"), "lifecycle": "COMPLETE"},
            {**contact("g", "hotline", "2024-01-03 11:00"), "lifecycle": "COMPLETE"}]
    frame = events_frame(rows)
    frame["lifecycle"] = frame["lifecycle"].astype("string")
    phone = accessibility(put(frame), touchpoints=put(TOUCHPOINTS)).group(channel="phone")
    # f called once (started and completed); g called twice, the second a repeat
    assert (phone.contacts, phone.repeated) == (3, 1)


@duckdb_only
def test_failure_rate_by_hour_of_day(week):
    events, touchpoints = week
    result = accessibility(events, touchpoints=touchpoints)
    phone = {h.hour: (h.contacts, h.failed) for h in result.hourly_for(channel="phone")}
    assert phone == {10: (2, 0), 12: (2, 2), 15: (1, 1), 21: (1, 0)}
    assert result.to_dict()["hourly"][0]["channel"] == "phone"


@duckdb_only
def test_matching_by_touchpoint_separates_call_and_chat(week):
    events, touchpoints = week
    result = accessibility(events, touchpoints=touchpoints, match=Match.TOUCHPOINT)
    phone = result.group(channel="phone")
    # a's calls never succeeded on the hotline itself (the chat is another matter now);
    # e's call starts its own episode, no longer counted under the chat
    assert (phone.resolved_episodes, phone.unresolved_episodes) == (3, 2)
    assert phone.attempts_before_success == 0
    assert phone.repeated == 2


def test_grouping_by_touchpoint_department_and_week(week):
    events, touchpoints = week
    result = accessibility(
        events,
        touchpoints=touchpoints,
        by=(Dimension.DEPARTMENT, Dimension.PERIOD),
        period=Period.WEEK,
    )
    keys = [(g.department_id, g.period_start) for g in result.groups]
    assert keys == [
        ("CC", dt.date(2024, 1, 1)),
        ("CC", dt.date(2024, 1, 8)),
        ("RET", dt.date(2024, 1, 1)),
    ]
    assert result.group(department_id="CC", period_start=dt.date(2024, 1, 8)).contacts == 1
    overall = accessibility(events, touchpoints=touchpoints, by=())
    assert overall.groups[0].contacts == len(WEEK)
    per_touchpoint = accessibility(events, touchpoints=touchpoints, by=[Dimension.TOUCHPOINT])
    assert per_touchpoint.group(touchpoint="chat").contacts == 2


def test_service_hours_follow_the_local_clock(week):
    events, touchpoints = week
    all_day = OpeningHours(dt.time(0), dt.time(0))  # closing at 00:00 is midnight
    always = ServiceHours(days=(all_day,) * 7)
    result = accessibility(events, touchpoints=touchpoints, service_hours=always)
    assert sum(g.outside_hours for g in result.groups) == 0
    three_hours_east = ServiceHours(utc_offset_minutes=180)
    shifted = accessibility(events, touchpoints=touchpoints, service_hours=three_hours_east)
    phone = {h.hour: h.failed for h in shifted.hourly_for(channel="phone")}
    assert phone[15] == 2 and phone[18] == 1
    # local Tuesday 21:30 -> Wednesday 00:30 and Saturday 18:00 stay outside; the rest in
    assert shifted.group(channel="phone").outside_hours == 2


@duckdb_only
def test_switching_needs_the_next_contact_soon_enough(week):
    events, touchpoints = week
    result = accessibility(
        events, touchpoints=touchpoints, switch_within=dt.timedelta(minutes=10)
    )
    # a switched 15 minutes after the failed call, e 30 minutes after the failed chat
    assert sum(g.switched_after_failure for g in result.groups) == 0


@duckdb_only
def test_bad_settings_are_refused(week):
    events, touchpoints = week
    with pytest.raises(InputError, match="dimension"):
        accessibility(events, by=["weather"])
    with pytest.raises(InputError, match="positive"):
        accessibility(events, repeat_within=dt.timedelta(0))
    with pytest.raises(InputError, match="weekday"):
        ServiceHours(days=())
    with pytest.raises(InputError, match="open before"):
        OpeningHours(dt.time(20), dt.time(8))


# -- the demo company: the hotline fails at lunchtime and in the evening -------------------

@pytest.fixture(scope="module")
def demo(demo_company):
    events, touchpoints = demo_company.events, demo_company.touchpoints
    support = events.semi_join(touchpoints.filter(touchpoints.stage == "support"), "touchpoint")
    return support, touchpoints, demo_company.truths


def test_demo_hotline_fails_in_the_planted_hours(demo):
    support, touchpoints, truths = demo
    planted = truths.accessibility
    result = accessibility(support, touchpoints=touchpoints, by=[Dimension.TOUCHPOINT])
    hours = result.hourly_for(touchpoint=planted.touchpoint)
    failing = {h for start, end in planted.failing_hours for h in range(start, end)}
    for h in hours:
        if h.contacts < 50:
            continue
        if h.hour in failing:
            assert h.failure_rate == pytest.approx(planted.failure_rate_in_hours, abs=0.12)
        else:
            assert h.failure_rate == pytest.approx(planted.failure_rate_outside, abs=0.06)
    assert {h.hour for h in hours if h.contacts >= 50} >= failing


def test_demo_customers_switch_channel_after_a_failed_call(demo):
    support, touchpoints, truths = demo
    planted = truths.accessibility
    result = accessibility(support, touchpoints=touchpoints, by=[Dimension.TOUCHPOINT])
    hotline = result.group(touchpoint=planted.touchpoint)
    assert hotline.switch_rate == pytest.approx(planted.switch_probability, abs=0.08)
    assert hotline.mean_attempts_before_success > 0
    per_channel = accessibility(support, touchpoints=touchpoints)
    worst = max(per_channel.groups, key=lambda g: g.failure_rate)
    assert worst.channel == planted.channel
    # the channels customers switch to hardly fail, so nobody switches away from them
    for target in planted.switch_to:
        assert result.group(touchpoint=target.touchpoint).switched_after_failure == 0
