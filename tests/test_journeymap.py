"""The journey map: stages x touchpoints with volume, waiting, failures, conversion and
satisfaction, the emotion of each stage, and pains and opportunities by the rules of
corridor.journeymap, checked against a hand-made shop whose every number is known, and
against the planted truths of the demo company."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from corridor.errors import AnalysisError, InputError
from corridor.journeymap import (
    Measure,
    OpportunityKind,
    PainKind,
    journey_map,
    two_proportion_z,
)
from corridor.satisfaction import Metric
from corridor.store import Project

from helpers import START, timed_events

duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

TOUCHPOINTS = pd.DataFrame(
    [("ad", "need", "web", "D-MKT", "basic"),
     ("browse", "evaluation", "web", "D-DIG", "basic"),
     ("compare", "evaluation", "web", "D-DIG", "optional"),
     ("chat", "evaluation", "web", "D-CC", "optional"),
     ("buy_web", "purchase", "web", "D-DIG", "alternative"),
     ("buy_shop", "purchase", "store", "D-RET", "alternative"),
     ("pay", "purchase", "web", "D-BIL", "basic"),
     ("hotline", "support", "phone", "D-CC", None)],
    columns=["touchpoint", "stage", "channel", "department_id", "role"],
)
CHAT = {0, 1, 2, 3, 4, 5, 20}


def shop() -> pd.DataFrame:
    """42 cases: all see the ad and browse; 16 compare, 7 chat; cases 0-29 buy on the
    web (20-29 abandon there and stop), 30-39 in the shop (each waiting 10 minutes);
    everyone who bought pays (the goal). Cases 0-4 call the hotline afterwards (0-2 fail,
    waiting a minute each); case 35 calls it before buying; 40 and 41 only browse; cases
    0 and 1 meet an unstaged "mystery" touchpoint."""
    rows, outcome, wait = [], [], []

    def add(case, tp, minute, result="ok", waited=float("nan")):
        rows.append((f"c{case:02d}", tp, minute))
        outcome.append(result)
        wait.append(waited)

    for k in range(42):
        add(k, "ad", 0)
        if k == 35:
            add(k, "hotline", 5, waited=60.0)
        add(k, "browse", 10)
        if k < 16:
            add(k, "compare", 20)
        if k in CHAT:
            add(k, "chat", 25)
        if k >= 40:
            continue
        if k < 30:
            add(k, "buy_web", 30, "abandoned" if 20 <= k < 30 else "ok")
            if 20 <= k < 30:
                continue
        else:
            add(k, "buy_shop", 30, waited=600.0)
        add(k, "pay", 40)
        if k < 5:
            add(k, "hotline", 50, "failed" if k < 3 else "ok", 60.0)
        if k < 2:
            add(k, "mystery", 60)
    frame = timed_events(rows)
    frame["outcome"] = pd.Series(outcome, dtype="string")
    frame["wait_seconds"] = wait
    return frame


def feedback() -> pd.DataFrame:
    shop_scores = [5, 5, 4, 4, 4, 3, 2, 2, 1, 1]
    rows = [(f"c{30 + i:02d}", "buy_shop", "csat", s) for i, s in enumerate(shop_scores)]
    rows += [(f"c{i:02d}", "pay", "csat", s) for i, s in enumerate([5, 5, 5, 4, 4])]
    rows += [(f"c{i:02d}", "hotline", "ces", s) for i, s in enumerate([2, 3, 6])]
    rows += [("c00", None, "nps", 9.0), ("c01", None, "csat", 1.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "touchpoint", "metric", "score"])
    frame["timestamp"] = START + pd.Timedelta(days=1)
    frame["score"] = frame["score"].astype(float)
    frame["text"] = pd.Series([None] * len(frame), dtype="string")
    return frame


def shop_map(put, **options):
    return journey_map(put(shop()), touchpoints=put(TOUCHPOINTS), feedback=put(feedback()),
                       min_cases=5, min_responses=5, **options)


def test_cells_count_volume_failures_waits_conversion_and_scores(put):
    m = shop_map(put, goal="pay")
    assert [s.stage for s in m.stages] == ["need", "evaluation", "purchase", "support", None]
    assert (m.cases, m.converted) == (42, 30)
    purchase = m.stage("purchase")
    assert [c.touchpoint for c in purchase.cells] == ["buy_web", "pay", "buy_shop"]
    assert (purchase.cases, purchase.converted) == (40, 30)
    web = m.cell("buy_web")
    assert (web.cases, web.events, web.failed, web.converted) == (30, 30, 10, 20)
    assert web.failure_share == pytest.approx(1 / 3)  # 'abandoned' fails too
    assert web.conversion == pytest.approx(2 / 3)
    assert web.share == pytest.approx(30 / 42)
    assert (web.channel, web.department_id, web.role) == ("web", "D-DIG", "alternative")
    store = m.cell("buy_shop")
    assert store.median_wait_seconds == 600.0 and store.total_wait_seconds == 6000.0
    csat = store.score(Metric.CSAT)
    assert (csat.responses, csat.bad) == (10, 4)
    assert csat.mean == pytest.approx(3.1)
    assert store.satisfaction == pytest.approx(0.05)  # (3.1 - 3) / 2
    hotline = m.cell("hotline")
    assert (hotline.cases, hotline.events, hotline.failed, hotline.converted) == (6, 6, 3, 6)
    assert hotline.score(Metric.CES).mean == pytest.approx(11 / 3)
    assert hotline.score(Metric.CSAT) is None
    assert m.cell("ad").conversion == pytest.approx(30 / 42)
    assert m.cell("compare").conversion == 1.0
    mystery = m.stage(None)
    assert mystery.name == "unstaged" and [c.touchpoint for c in mystery.cells] == ["mystery"]
    assert mystery.cells[0].stage is None and mystery.cells[0].channel is None


def test_emotion_is_satisfaction_minus_failures_of_rated_touchpoints_weighted_by_volume(put):
    m = shop_map(put, goal="pay")
    assert m.cell("pay").emotion == pytest.approx(0.8)  # CSAT 4.6 -> (4.6 - 3) / 2
    assert m.cell("buy_shop").emotion == pytest.approx(0.05)
    assert m.cell("hotline").emotion == pytest.approx((11 / 3 - 4) / 3 - 0.5)
    # buy_web fails a third of the time but nobody rated it: its failures are a pain,
    # not a feeling, and they do not pull the stage's emotion down as if they were
    assert m.cell("buy_web").emotion is None
    assert m.stage("purchase").emotion == pytest.approx((30 * 0.8 + 10 * 0.05) / 40)
    assert (m.stage("purchase").rated_cases, m.stage("purchase").responses) == (40, 15)
    assert m.stage("support").emotion == pytest.approx(m.cell("hotline").emotion)


def test_a_stage_without_feedback_has_no_emotion_score(put):
    m = shop_map(put, goal="pay")
    for name in ("need", "evaluation", None):  # visited, nobody rated a touchpoint of it
        stage = m.stage(name)
        assert stage.cases > 0 and stage.responses == 0
        assert stage.emotion is None  # not a neutral 0.0
        assert stage.to_dict()["emotion"] is None
    unrated = journey_map(put(shop()), touchpoints=put(TOUCHPOINTS), feedback=None,
                          goal="pay", min_cases=5)
    assert [s.emotion for s in unrated.stages] == [None] * len(unrated.stages)
    assert all(c.emotion is None for c in unrated.cells)
    # failures still show where they belong: in the failure share and the pains
    assert unrated.cell("buy_web").failure_share == pytest.approx(1 / 3)
    assert any(p.kind is PainKind.FAILURE and p.cell.touchpoint == "buy_web"
               for p in unrated.pains)


def test_without_a_goal_conversion_is_continuing_to_a_later_stage(put):
    m = shop_map(put)
    assert m.goal == ()
    assert m.cell("ad").conversion == 1.0
    assert m.cell("buy_web").conversion == pytest.approx(5 / 30)  # five call the hotline
    # case 35 called the hotline before buying in the shop: that is no continuation
    assert m.cell("buy_shop").conversion == 0.0
    assert m.cell("hotline").conversion == 0.0  # no stage after support was visited
    assert m.cell("mystery").conversion is None  # an unstaged touchpoint has no later stage
    assert m.stage("evaluation").conversion == pytest.approx(40 / 42)


def test_pains_are_ranked_by_their_part_of_the_maps_total(put):
    m = shop_map(put, goal="pay")
    found = [(p.kind, p.cell.touchpoint) for p in m.pains]
    assert found == [(PainKind.LOW_SCORE, "buy_shop"), (PainKind.WAIT, "buy_shop"),
                     (PainKind.FAILURE, "buy_web"), (PainKind.FAILURE, "hotline")]
    low, wait, web, hotline = m.pains
    assert low.metric is Metric.CSAT and low.severity == 1.0  # all bad CSAT answers
    assert wait.severity == pytest.approx(6000 / 6360)
    assert web.severity == pytest.approx(10 / 13) and hotline.severity == pytest.approx(3 / 13)
    # the hotline's three CES answers are fewer than min_responses: no low-score pain
    assert journey_map(put(shop()), touchpoints=put(TOUCHPOINTS), feedback=None,
                       min_cases=5, pains=1).pains[0].kind is PainKind.WAIT


def test_opportunities_users_who_convert_better_doors_and_rare_options(put):
    m = shop_map(put, goal="pay")
    found = [(o.kind, o.cell.touchpoint) for o in m.opportunities]
    assert found == [(OpportunityKind.CONVERTS_BETTER, "compare"),
                     (OpportunityKind.BETTER_DOOR, "buy_web"),
                     (OpportunityKind.OPTIONAL_FEW_USE, "chat")]
    compare, door, chat = m.opportunities
    assert (compare.value, compare.compared, compare.compared_cases) == (1.0, 14 / 26, 26)
    assert compare.z == pytest.approx(two_proportion_z(16, 16, 14, 26))
    assert compare.potential == pytest.approx(12)
    assert door.measure is Measure.CONVERSION and door.compared_touchpoint == "buy_shop"
    assert (door.value, door.compared) == (pytest.approx(2 / 3), 1.0)
    assert door.potential == pytest.approx(10)
    assert chat.value == pytest.approx(6 / 7) and chat.compared == pytest.approx(24 / 35)
    assert chat.z is None  # not a clear difference, but no worse: offer it to more
    assert json.loads(json.dumps(m.to_dict()))["opportunities"][0]["touchpoint"] == "compare"


@duckdb_only
def test_without_a_goal_a_door_that_fails_more_is_the_opportunity(put):
    m = shop_map(put)
    doors = [o for o in m.opportunities if o.kind is OpportunityKind.BETTER_DOOR]
    assert len(doors) == 1
    assert doors[0].measure is Measure.FAILURE and doors[0].value == pytest.approx(1 / 3)
    assert all(o.kind is not OpportunityKind.CONVERTS_BETTER for o in m.opportunities)


@duckdb_only
def test_bad_arguments_are_one_sentence(put):
    events = put(shop())
    with pytest.raises(InputError, match="pains must be a whole number"):
        journey_map(events, touchpoints=None, feedback=None, pains=-1)
    with pytest.raises(InputError, match="at most 50"):
        journey_map(events, touchpoints=None, feedback=None, opportunities=51)
    with pytest.raises(InputError, match="goal"):
        journey_map(events, touchpoints=None, feedback=None, goal="")
    with pytest.raises(AnalysisError, match="no events"):
        journey_map(events.filter(events.case_id == "nobody"), touchpoints=None, feedback=None)


@duckdb_only
def test_without_a_touchpoints_table_everything_is_unstaged_and_roles_are_mined(put):
    m = journey_map(put(shop()), touchpoints=None, feedback=None, goal="pay", min_cases=5)
    assert [s.stage for s in m.stages] == [None]
    assert m.cell("pay").role == "basic"


def test_the_demo_companys_planted_problems_are_among_the_pains(web_demo):
    with Project.open(web_demo, read_only=True) as p:
        truths = {r[0]: json.loads(r[1]) for r in
                  p.con.execute("SELECT name, value FROM planted_truths").fetchall()}
        m = journey_map(p.table("events"), touchpoints=p.table("touchpoints"),
                        feedback=p.table("feedback"), customers=p.table("customers"),
                        goal=truths["corridor"]["goal"])
    bottleneck, access = truths["bottleneck"], truths["accessibility"]
    pains = {(p.kind, p.cell.touchpoint): p for p in m.pains}
    wait = pains[PainKind.WAIT, bottleneck["touchpoint"]]
    assert wait.worst_region == bottleneck["region"]
    assert (PainKind.FAILURE, access["touchpoint"]) in pains
    # the online door's abandoned orders make it the door to improve
    doors = [o for o in m.opportunities if o.kind is OpportunityKind.BETTER_DOOR]
    assert [o.cell.touchpoint for o in doors] == ["order_online"]
    assert [s.stage for s in m.stages] == ["need", "evaluation", "purchase", "use", "support",
                                           "loyalty", "exit"]
