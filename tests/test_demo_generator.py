"""The demo company: every planted truth is present in the written files with the
recorded magnitude, read back with DuckDB straight from the files (no ingest)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re

import duckdb
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from corridor import schema
from corridor.demo import DemoConfig, generate
from corridor.errors import InputError

N = 40_000
SEED = int(os.environ.get("CORRIDOR_DEMO_TEST_SEED", "7"))  # the truths must hold for any seed


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    calls = []
    files = generate(out, DemoConfig(customers=N, seed=SEED, chunk_customers=15_000), progress=lambda d, t: calls.append((d, t)))
    return files, calls


@pytest.fixture(scope="module")
def db(demo):
    files, _ = demo
    con = duckdb.connect()
    ev = ", ".join(f"'{p}'" for p in files.events)
    tx = ", ".join(f"'{p}'" for p in files.transactions)
    con.execute(f"CREATE TABLE ev AS SELECT * FROM read_parquet([{ev}])")
    con.execute(f"CREATE TABLE tx AS SELECT * FROM read_parquet([{tx}])")
    con.execute(f"CREATE TABLE cu AS SELECT * FROM read_csv('{files.customers}', header=true)")
    con.execute(f"CREATE TABLE fb AS SELECT * FROM read_csv('{files.feedback}', header=true)")
    con.execute(f"CREATE TABLE tp AS SELECT * FROM read_csv('{files.touchpoints}', header=true)")
    con.execute(f"CREATE TABLE dep AS SELECT * FROM read_csv('{files.departments}', header=true)")
    # journeys that reach the goal
    con.execute("""CREATE TABLE goal AS SELECT DISTINCT case_id FROM ev WHERE touchpoint = 'first_bill'""")
    # per customer: failed hotline contacts, ping-pong cases, churn
    con.execute("""CREATE TABLE support AS
        SELECT customer_id, case_id, touchpoint, timestamp, outcome, ev.channel, duration_seconds,
               lead(touchpoint, 1) OVER w AS n1, lead(touchpoint, 2) OVER w AS n2,
               lead(ev.channel, 1) OVER w AS next_channel, lead(timestamp, 1) OVER w AS next_ts
        FROM ev JOIN tp USING (touchpoint)
        WHERE tp.stage = 'support'
        WINDOW w AS (PARTITION BY case_id ORDER BY timestamp)""")
    con.execute("""CREATE TABLE drivers AS
        SELECT customer_id,
               count(*) FILTER (WHERE s.touchpoint = 'support_hotline' AND s.outcome = 'failed') AS failed,
               count(*) FILTER (WHERE s.touchpoint = 'billing_dispute' AND s.n1 = 'store_support'
                                AND s.n2 = 'billing_dispute') AS pingpong
        FROM (SELECT DISTINCT customer_id FROM ev WHERE touchpoint = 'activation' AND outcome = 'ok') a
        LEFT JOIN support s USING (customer_id)
        GROUP BY customer_id""")
    con.execute("""CREATE TABLE churned AS SELECT customer_id, min(timestamp) AS cancel_at
                   FROM ev WHERE touchpoint = 'contract_cancel' GROUP BY 1""")
    yield con
    con.close()


def one(con, sql, params=None):
    return con.execute(sql, params).fetchone()


def share(truth_list, name):
    return {s.touchpoint: s.share for s in truth_list}[name]


# ---- files, schema, references -------------------------------------------------------


def test_files_columns_and_progress(demo, db):
    files, calls = demo
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert len(files.events) == len(files.transactions) == 3
    # every canonical column but the XES lifecycle state, which contacts do not have
    canonical = [n for n in schema.SPECS[schema.Kind.EVENTS].names if n != schema.LIFECYCLE]
    cols = [r[0] for r in db.execute("DESCRIBE ev").fetchall()]
    assert cols == canonical  # no seq / load_id / attributes
    for kind, view in [(schema.Kind.TRANSACTIONS, "tx"), (schema.Kind.FEEDBACK, "fb"),
                       (schema.Kind.CUSTOMERS, "cu"), (schema.Kind.TOUCHPOINTS, "tp"),
                       (schema.Kind.DEPARTMENTS, "dep")]:
        have = [r[0] for r in db.execute(f"DESCRIBE {view}").fetchall()]
        assert have[: len(schema.SPECS[kind].names)] == list(schema.SPECS[kind].names), kind
    c = files.truths.counts
    assert one(db, "SELECT count(*) FROM ev")[0] == c.events
    assert one(db, "SELECT count(*) FROM tx")[0] == c.transactions
    assert one(db, "SELECT count(*) FROM fb")[0] == c.feedback
    assert one(db, "SELECT count(*) FROM cu")[0] == c.customers_rows
    assert 17 <= c.events / N <= 23  # ~20 events per customer
    for p in (files.customers, files.feedback, files.touchpoints, files.departments):
        p.read_bytes().decode("utf-8")


def test_references_exist(db):
    assert one(db, "SELECT count(*) FROM (SELECT DISTINCT touchpoint FROM ev) WHERE touchpoint NOT IN (SELECT touchpoint FROM tp)")[0] == 0
    assert one(db, "SELECT count(*) FROM (SELECT DISTINCT department_id FROM ev) WHERE department_id NOT IN (SELECT department_id FROM dep)")[0] == 0
    assert one(db, "SELECT count(*) FROM tp WHERE department_id NOT IN (SELECT department_id FROM dep)")[0] == 0
    assert 6 <= one(db, "SELECT count(*) FROM dep")[0] <= 8
    assert 22 <= one(db, "SELECT count(*) FROM tp")[0] <= 28
    # events carry their touchpoint's owner
    assert one(db, "SELECT count(*) FROM ev JOIN tp USING (touchpoint) WHERE ev.department_id <> tp.department_id")[0] == 0
    # every customer and parent exists; ids unique
    assert one(db, "SELECT count(*) - count(DISTINCT customer_id) FROM cu")[0] == 0
    for t in ("ev", "tx", "fb"):
        assert one(db, f"SELECT count(*) FROM (SELECT DISTINCT customer_id FROM {t}) WHERE customer_id NOT IN (SELECT customer_id FROM cu)")[0] == 0
    assert one(db, "SELECT count(*) FROM cu WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT customer_id FROM cu)")[0] == 0
    stages = {r[0] for r in db.execute("SELECT DISTINCT stage FROM tp").fetchall()}
    assert stages == set(schema.STAGES)
    channels = {r[0] for r in db.execute("SELECT DISTINCT channel FROM tp").fetchall()}
    assert channels == {"store", "phone", "web", "app", "email", "partner", "field"}
    assert {r[0] for r in db.execute("SELECT DISTINCT outcome FROM ev").fetchall()} == set(schema.OUTCOMES)


def test_customer_levels(db):
    levels = dict(db.execute("SELECT level, count(*) FROM cu GROUP BY 1").fetchall())
    assert set(levels) == {"person", "company", "intermediary", "corporate"}
    assert levels["person"] == N
    # end customers belong to intermediaries, company people to company accounts
    rows = db.execute("""SELECT c.relation, p.level, count(*) FROM cu c JOIN cu p ON c.parent_id = p.customer_id
                         WHERE c.level = 'person' GROUP BY ALL""").fetchall()
    assert {(r, lv) for r, lv, _ in rows} == {("end", "intermediary"), ("direct", "company")}
    assert one(db, "SELECT count(*) FROM cu WHERE level = 'company' AND parent_id IS NOT NULL")[0] > 0
    assert one(db, "SELECT count(*) FROM cu c JOIN cu p ON c.parent_id = p.customer_id WHERE c.level IN ('company', 'intermediary') AND p.level <> 'corporate'")[0] == 0
    assert one(db, "SELECT count(DISTINCT region) FROM cu WHERE level = 'person'")[0] == 5
    assert {r[0] for r in db.execute("SELECT DISTINCT segment FROM cu WHERE level = 'person'").fetchall()} == {
        "consumer", "small_business", "enterprise"}


def test_pii_names_in_three_scripts(db):
    names = [r[0] for r in db.execute("SELECT name FROM cu WHERE level = 'person'").fetchall()]
    assert any(re.search(r"[\u0600-\u06FF]", n) for n in names)  # Arabic
    assert any(re.search(r"[\u0400-\u04FF]", n) for n in names)  # Cyrillic
    assert any(re.fullmatch(r"[A-Za-z]+ [A-Za-z]+", n) for n in names)  # Latin
    assert one(db, "SELECT count(*) FROM cu WHERE level = 'person' AND (email IS NULL OR phone IS NULL)")[0] == 0
    assert one(db, "SELECT count(*) FROM cu WHERE email NOT LIKE '%@%example.%'")[0] == 0


def test_events_in_case_and_time_order(demo):
    files, _ = demo
    con = duckdb.connect()
    for p in files.events:
        bad = con.execute(f"""SELECT count(*) FROM (
            SELECT case_id, timestamp, lag(case_id) OVER w AS pc, lag(timestamp) OVER w AS pt
            FROM read_parquet('{p}', file_row_number = true) WINDOW w AS (ORDER BY file_row_number))
            WHERE pc > case_id OR (pc = case_id AND timestamp < pt)""").fetchone()[0]
        assert bad == 0
    ids = [set(r[0] for r in con.execute(f"SELECT DISTINCT customer_id FROM read_parquet('{p}')").fetchall())
           for p in files.events]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])  # chunks hold disjoint customers


def test_costs_by_channel(db):
    cost = dict(db.execute("SELECT channel, avg(cost) FROM ev GROUP BY 1").fetchall())
    for expensive in ("phone", "store"):
        for digital in ("web", "app", "email"):
            assert cost[expensive] > 5 * cost[digital]


# ---- planted truths 1-3: corridor, doors, optional services ------------------------------


def test_basic_corridor_coverage_and_order(demo, db):
    t = demo[0].truths.corridor
    n_goal = one(db, "SELECT count(*) FROM goal")[0]
    assert n_goal == demo[0].truths.measured.goal_journeys > 0.6 * N
    cov = dict(db.execute("""SELECT touchpoint, count(DISTINCT case_id) FROM ev
                             WHERE case_id IN (SELECT case_id FROM goal) GROUP BY 1""").fetchall())
    for s in t.coverage:
        assert s.share >= 0.9
        assert cov[s.touchpoint] / n_goal == pytest.approx(s.share, abs=0.01), s.touchpoint
    for s in demo[0].truths.measured.coverage:
        assert cov.get(s.touchpoint, 0) / n_goal == pytest.approx(s.share, abs=1e-5)
    # the steps come in the recorded order: first visits, journey by journey
    for a, b in zip(t.steps, t.steps[1:]):
        in_order = one(db, f"""SELECT avg((fa < fb)::INT) FROM (
            SELECT case_id, min(timestamp) FILTER (WHERE touchpoint IN {a + ('',)}) fa,
                   min(timestamp) FILTER (WHERE touchpoint IN {b + ('',)}) fb
            FROM ev WHERE case_id IN (SELECT case_id FROM goal) GROUP BY 1) WHERE fa IS NOT NULL AND fb IS NOT NULL""")[0]
        assert in_order > 0.99, (a, b)
    assert t.goal == t.steps[-1][0]


def test_alternative_doors(demo, db):
    (g,) = demo[0].truths.alternatives
    doors = [d.touchpoint for d in g.doors]
    n_goal = one(db, "SELECT count(*) FROM goal")[0]
    per_case = db.execute(f"""SELECT case_id, count(DISTINCT touchpoint) AS k, any_value(touchpoint) AS door FROM ev
        WHERE touchpoint IN {tuple(doors)} AND case_id IN (SELECT case_id FROM goal) GROUP BY 1""").fetchall()
    assert len(per_case) == n_goal  # together they cover every goal-reaching journey
    assert all(k == 1 for _, k, _ in per_case)  # never two doors in one journey
    assert one(db, f"SELECT max(k) FROM (SELECT count(DISTINCT touchpoint) k FROM ev WHERE touchpoint IN {tuple(doors)} GROUP BY case_id)")[0] == 1
    counts = {d: sum(1 for _, _, x in per_case if x == d) for d in doors}
    for d in g.doors:
        assert 0.15 < d.share < 0.6
        assert counts[d.touchpoint] / n_goal == pytest.approx(d.share, abs=0.015), d.touchpoint
    assert sum(d.share for d in g.doors) == pytest.approx(1.0)
    # the partner door is exactly the intermediaries' end customers
    mismatch = one(db, """SELECT count(*) FROM (SELECT DISTINCT customer_id FROM ev WHERE touchpoint = 'order_partner') o
                          FULL JOIN (SELECT customer_id FROM cu WHERE relation = 'end'
                                     AND customer_id IN (SELECT customer_id FROM ev WHERE touchpoint LIKE 'order_%')) e
                          USING (customer_id) WHERE o.customer_id IS NULL OR e.customer_id IS NULL""")[0]
    assert mismatch == 0
    rate = one(db, "SELECT avg((outcome = 'abandoned')::INT) FROM ev WHERE touchpoint = 'order_online'")[0]
    assert rate == pytest.approx(share(g.abandon_rate, "order_online"), abs=0.01)


def test_optional_services(demo, db):
    n_goal = one(db, "SELECT count(*) FROM goal")[0]
    for s in demo[0].truths.optional.services:
        assert 0.10 <= s.share <= 0.40
        k = one(db, f"""SELECT count(DISTINCT case_id) FROM ev WHERE touchpoint = '{s.touchpoint}'
                        AND case_id IN (SELECT case_id FROM goal)""")[0]
        assert k / n_goal == pytest.approx(s.share, abs=0.012), s.touchpoint


# ---- 4: the bottleneck -----------------------------------------------------------------


def test_installation_bottleneck(demo, db):
    b = demo[0].truths.bottleneck
    rows = db.execute(f"""SELECT cu.region = '{b.region}' AS hit,
            date_diff('second', TIMESTAMP '{b.start}', ev.timestamp - to_seconds(ev.wait_seconds::BIGINT)) / 604800.0 AS week,
            ev.wait_seconds / 86400.0 AS days
        FROM ev JOIN cu USING (customer_id) WHERE ev.touchpoint = '{b.touchpoint}'""").fetchnumpy()
    hit, week, days = rows["hit"], rows["week"], rows["days"]
    peak_w = (b.peak_from - b.start).days / 7
    res_w = (b.resolved_on - b.start).days / 7
    shift = (sum(b.appointment_hours) / 2 - 12) / 24
    before = days[hit & (week < 0)].mean()
    peak = days[hit & (week >= peak_w) & (week < res_w)].mean()
    after = days[hit & (week >= res_w)].mean()
    others = days[~hit & (week >= peak_w) & (week < res_w)].mean()
    assert before == pytest.approx(b.wait_mean_days_before + shift, abs=0.25)
    assert peak == pytest.approx(b.wait_mean_days_peak + shift, rel=0.08)
    assert after == pytest.approx(b.wait_mean_days_after + shift, abs=0.35)
    assert others == pytest.approx(b.wait_mean_days_before + shift, abs=0.25)
    grow = hit & (week >= 0) & (week < peak_w)
    slope = np.polyfit(week[grow], days[grow], 1)[0]
    assert slope == pytest.approx(b.weekly_growth_days, rel=0.2)
    weekly = [days[hit & (week >= w) & (week < w + 1)].mean() for w in range(b.growth_weeks)]
    assert sum(y > x for x, y in zip(weekly, weekly[1:])) >= b.growth_weeks - 3  # grows week by week


# ---- 5: accessibility --------------------------------------------------------------------


def test_hotline_accessibility_failure(demo, db):
    a = demo[0].truths.accessibility
    in_hours = " OR ".join(f"(hour(timestamp) >= {lo} AND hour(timestamp) < {hi})" for lo, hi in a.failing_hours)
    r_in, r_out = db.execute(f"""SELECT avg((outcome = 'failed')::INT) FILTER (WHERE {in_hours}),
                                        avg((outcome = 'failed')::INT) FILTER (WHERE NOT ({in_hours}))
                                 FROM ev WHERE touchpoint = '{a.touchpoint}' AND channel = '{a.channel}'""").fetchone()
    assert r_in == pytest.approx(a.failure_rate_in_hours, abs=0.025)
    assert r_out == pytest.approx(a.failure_rate_outside, abs=0.01)
    # after a failure: switch channel (or retry the hotline), shortly after
    rows = db.execute(f"""SELECT next_channel, n1, date_diff('second', timestamp, next_ts) / 60.0 FROM support
                          WHERE touchpoint = '{a.touchpoint}' AND outcome = 'failed' AND n1 IS NOT NULL""").fetchall()
    switched = [r for r in rows if r[0] != a.channel]
    assert len(switched) / len(rows) == pytest.approx(a.switch_probability, abs=0.03)
    targets = {s.touchpoint: s.share for s in a.switch_to}
    for tp_, p in targets.items():
        assert sum(r[1] == tp_ for r in switched) / len(switched) == pytest.approx(p, abs=0.04)
    digital = sorted(r[2] for r in switched if r[1] != "store_support")
    assert digital[len(digital) // 2] < 60  # minutes
    stayed = [r[1] for r in rows if r[0] == a.channel]
    assert stayed.count(a.touchpoint) / len(stayed) > 0.99  # the rest: another case's call in between


# ---- 6: drivers of dissatisfaction and churn ---------------------------------------------


def ols(y, *xs):
    x = np.column_stack([np.ones(len(y)), *xs])
    return np.linalg.lstsq(x, y, rcond=None)[0]


def test_nps_drivers(demo, db):
    m = demo[0].truths.drivers.nps
    d = db.execute("""SELECT f.score, d.failed, d.pingpong FROM fb f JOIN drivers d USING (customer_id)
                      WHERE f.metric = 'nps'""").fetchnumpy()
    assert len(d["score"]) > 0.3 * N * m.response_rate
    coef = ols(d["score"].astype(float), d["failed"].astype(float), d["pingpong"].astype(float))
    eff = {e.feature: e.coefficient for e in m.effects}
    assert coef[1] == pytest.approx(eff["failed_hotline_contacts"], abs=0.12)
    assert coef[2] == pytest.approx(eff["pingpong_cases"], abs=0.3)
    assert d["score"].min() >= m.low and d["score"].max() <= m.high


def test_csat_falls_with_installation_wait(demo, db):
    m = demo[0].truths.drivers.csat
    d = db.execute(f"""SELECT f.score, e.wait_seconds / 86400.0 AS days FROM fb f
                       JOIN ev e ON e.customer_id = f.customer_id AND e.touchpoint = '{m.touchpoint}'
                       WHERE f.metric = 'csat' AND f.touchpoint = '{m.touchpoint}'""").fetchnumpy()
    coef = ols(d["score"].astype(float), d["days"])
    assert coef[1] == pytest.approx(m.effects[0].coefficient, abs=0.03)


def test_ces_falls_with_failed_calls(demo, db):
    m = demo[0].truths.drivers.ces
    means = dict(db.execute("""
        WITH c AS (SELECT f.score, (SELECT count(*) FROM ev e WHERE e.customer_id = f.customer_id
                     AND e.touchpoint = 'support_hotline' AND e.outcome = 'failed'
                     AND e.timestamp BETWEEN f.timestamp - INTERVAL 6 HOUR AND f.timestamp) AS k
                   FROM fb f WHERE f.metric = 'ces')
        SELECT least(k, 2), avg(score) FROM c GROUP BY 1""").fetchall())
    assert means[0] > means[1] > means[2]
    assert 1 <= min(means.values()) and max(means.values()) <= 7
    assert m.effects[0].coefficient < 0


def test_churn_drivers_and_exit(demo, db):
    m = demo[0].truths.drivers.churn
    eff = {e.feature: e.coefficient for e in m.effects}
    lo, hi = m.delay_days
    # per support case (ticket): did the customer leave within the delay after it?
    db.execute(f"""CREATE OR REPLACE TABLE tickets AS
        SELECT c.*, (ch.cancel_at BETWEEN c.case_end + INTERVAL {int(lo * 86400) - 2} SECOND
                                      AND c.case_end + INTERVAL {int(hi * 86400) + 2} SECOND) IS TRUE AS left_after
        FROM (SELECT case_id, customer_id,
                     count(*) FILTER (WHERE touchpoint = 'support_hotline' AND outcome = 'failed') AS failed,
                     count(*) FILTER (WHERE touchpoint = 'billing_dispute' AND n1 = 'store_support'
                                      AND n2 = 'billing_dispute') AS pingpong,
                     max(timestamp + to_seconds(duration_seconds::BIGINT)) AS case_end
              FROM support GROUP BY 1, 2) c
        LEFT JOIN churned ch USING (customer_id)
        WHERE c.case_end < TIMESTAMP '{demo[0].truths.end}' - INTERVAL {int(hi) + 1} DAY""")
    assert one(db, "SELECT count(*) FROM tickets WHERE case_id NOT LIKE '%-S__'")[0] == 0
    rows = db.execute("""SELECT least(failed, 3), count(*), avg(left_after::INT) FROM tickets WHERE pingpong = 0
                         GROUP BY 1 ORDER BY 1""").fetchall()
    for k, n, rate in rows[:3]:
        p = 1 / (1 + math.exp(-(m.intercept + eff["failed_hotline_contacts_in_case"] * k)))
        assert rate == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n) + 0.003), k
    n, rate = one(db, "SELECT count(*), avg(left_after::INT) FROM tickets WHERE pingpong = 1 AND failed = 0")
    p = 1 / (1 + math.exp(-(m.intercept + eff["pingpong_in_case"])))
    assert rate == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n) + 0.003)
    # customers with failed calls leave more often
    by = dict(db.execute("""SELECT d.failed > 0, avg((c.customer_id IS NOT NULL)::INT) FROM drivers d
                            LEFT JOIN churned c USING (customer_id) GROUP BY 1""").fetchall())
    assert by[True] > 1.5 * by[False]
    # the exit is the journey's last event; churners stop transacting
    assert one(db, """SELECT count(*) FROM ev JOIN churned USING (customer_id) WHERE ev.timestamp > cancel_at""")[0] == 0
    assert one(db, """SELECT count(*) FROM tx JOIN churned USING (customer_id) WHERE tx.timestamp > cancel_at""")[0] == 0
    assert one(db, "SELECT count(*) FROM ev WHERE touchpoint = 'contract_cancel' AND case_id LIKE '%-S%'")[0] == 0
    assert one(db, "SELECT stage FROM tp WHERE touchpoint = ?", [m.exit_touchpoint])[0] == "exit"
    # no pile-up of exits at the end of the window
    months = [r[0] for r in db.execute("""SELECT count(*) FROM ev WHERE touchpoint = 'contract_cancel'
                                          GROUP BY month(timestamp) ORDER BY month(timestamp)""").fetchall()]
    assert months[-1] < 1.3 * months[-2]


# ---- 7: the sudden exception ---------------------------------------------------------------


def test_exception_on_a_date(demo, db):
    e = demo[0].truths.exception
    rows = dict(db.execute(f"""SELECT timestamp::DATE, avg((outcome = 'failed')::INT) FROM ev
                               WHERE touchpoint = '{e.touchpoint}' GROUP BY 1""").fetchall())
    inside = [v for d, v in rows.items() if e.start <= d <= e.end]
    assert len(inside) == (e.end - e.start).days + 1
    for v in inside:
        assert v == pytest.approx(e.rate, abs=0.06)
    outside = np.mean([v for d, v in rows.items() if not e.start <= d <= e.end])
    assert outside == pytest.approx(e.baseline_rate, abs=0.005)
    near = [rows[e.start - dt.timedelta(days=1)], rows[e.end + dt.timedelta(days=1)]]
    assert max(near) < 0.06


# ---- 8: value segments -------------------------------------------------------------------


def _fit_bgnbd(x, tx, T):
    def nll(th):
        r, al, a, b = np.exp(th)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(al)
        a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(al + T)
        a3 = np.where(x > 0, betaln(a + 1, np.maximum(b + x - 1, 1e-9)) - betaln(a, b) - (r + x) * np.log(al + tx),
                      -np.inf)
        return -np.sum(a1 + np.logaddexp(a2, a3))

    return np.exp(minimize(nll, np.log([0.5, 5, 1, 1]), method="L-BFGS-B").x)


def _fit_gg(n, m):
    def nll(th):
        p, q, v = np.exp(th)
        return -np.sum(gammaln(p * n + q) - gammaln(p * n) - gammaln(q) + q * np.log(v) + (p * n - 1) * np.log(m)
                       + p * n * np.log(n) - (p * n + q) * np.log(v + n * m))

    return np.exp(minimize(nll, np.log([2, 2, 10]), method="L-BFGS-B").x)


def test_value_segments_recoverable(demo, db):
    truths = demo[0].truths
    df = db.execute(f"""
        WITH p AS (SELECT customer_id, timestamp t, amount FROM tx WHERE kind = 'purchase'),
        s AS (SELECT customer_id, count(*) - 1 x, min(t) f, max(t) l, avg(amount) m FROM p GROUP BY 1)
        SELECT cu.segment, s.x, date_diff('second', s.f, s.l) / 604800.0 tx,
               date_diff('second', s.f, coalesce(c.cancel_at, TIMESTAMP '{truths.end}')) / 604800.0 T, s.m
        FROM s JOIN cu USING (customer_id) LEFT JOIN churned c USING (customer_id)""").df()
    # the first purchase is the order
    assert one(db, """SELECT count(*) FROM (SELECT customer_id, min(timestamp) t FROM tx WHERE kind = 'purchase' GROUP BY 1) p
                      LEFT JOIN ev ON ev.customer_id = p.customer_id AND ev.timestamp = p.t AND ev.touchpoint LIKE 'order_%'
                      WHERE ev.customer_id IS NULL""")[0] == 0
    seg = {s.segment: s for s in truths.value_segments}
    assert set(seg) == set(df.segment)
    g = df[df.segment == "consumer"]
    r, alpha, a, b = _fit_bgnbd(g.x.values.astype(float), g.tx.values, g["T"].values)
    s = seg["consumer"]
    assert r == pytest.approx(s.r, rel=0.12) and alpha == pytest.approx(s.alpha, rel=0.15)
    assert a == pytest.approx(s.a, rel=0.35) and b == pytest.approx(s.b, rel=0.35)
    p, q, v = _fit_gg(g.x.values + 1.0, g.m.values)
    assert p == pytest.approx(s.p, rel=0.15) and q == pytest.approx(s.q, rel=0.15) and v == pytest.approx(s.v, rel=0.2)
    for name, s in seg.items():  # mean spend per purchase, every segment
        assert df[df.segment == name].m.mean() == pytest.approx(s.p * s.v / (s.q - 1), rel=0.15), name


def test_bills_are_monthly_and_priced(demo, db):
    bill = demo[0].truths.billing
    gaps = {r[0] for r in db.execute("""SELECT DISTINCT date_diff('day', lag(timestamp) OVER w, timestamp)
                                        FROM tx WHERE kind = 'bill' WINDOW w AS (PARTITION BY customer_id ORDER BY timestamp)""").fetchall()}
    assert gaps - {None} == {bill.bill_every_days}
    first = one(db, """SELECT count(*) FROM (SELECT customer_id, min(timestamp) t FROM tx WHERE kind = 'bill' GROUP BY 1) b
                       JOIN ev ON ev.customer_id = b.customer_id AND ev.touchpoint = 'first_bill' AND ev.timestamp = b.t""")[0]
    assert first == one(db, "SELECT count(*) FROM ev WHERE touchpoint = 'first_bill'")[0]
    assert one(db, f"SELECT max(abs(margin - round(amount * {bill.bill_margin_rate}, 2))) FROM tx WHERE kind = 'bill'")[0] < 0.011


# ---- loops, feedback, truths, incidents ----------------------------------------------------


def test_loops_and_handoffs(db):
    revisits = one(db, """SELECT count(*) FROM support WHERE touchpoint = 'technician_visit' AND n1 = 'technician_visit'""")[0]
    assert revisits > 100
    retries = one(db, "SELECT count(*) FROM support WHERE touchpoint = 'support_hotline' AND n1 = 'support_hotline'")[0]
    assert retries > 500
    assert one(db, "SELECT sum(pingpong) FROM drivers")[0] > 100
    handoffs = one(db, """SELECT count(*) FROM (SELECT department_id, lead(department_id) OVER w nd FROM ev
                          WINDOW w AS (PARTITION BY case_id ORDER BY timestamp)) WHERE nd <> department_id""")[0]
    assert handoffs > N


def test_feedback_texts_match_language_and_score(db):
    langs = dict(db.execute("SELECT language, count(*) FROM fb WHERE text IS NOT NULL GROUP BY 1").fetchall())
    assert set(langs) == {"en", "ar", "ru"}
    for lang, pattern in (("ar", r"[\u0600-\u06FF]"), ("ru", r"[\u0400-\u04FF]"), ("en", r"^[ -~]+$")):
        texts = [r[0] for r in db.execute("SELECT DISTINCT text FROM fb WHERE text IS NOT NULL AND language = ?", [lang]).fetchall()]
        assert texts and all(re.search(pattern, t) for t in texts), lang
    ranges = dict(db.execute("SELECT metric, [min(score), max(score)] FROM fb GROUP BY 1").fetchall())
    assert ranges["nps"][0] >= 0 and ranges["nps"][1] <= 10
    assert ranges["csat"][0] >= 1 and ranges["csat"][1] <= 5
    assert ranges["ces"][0] >= 1 and ranges["ces"][1] <= 7
    pos = one(db, "SELECT avg(score) FROM fb WHERE metric = 'nps' AND text IN ('I recommend them to my friends.', 'Рекомендую друзьям.')")[0]
    neg = one(db, "SELECT avg(score) FROM fb WHERE metric = 'nps' AND text IN ('I am thinking of switching provider.', 'Думаю сменить провайдера.')")[0]
    assert pos >= 9 and neg <= 6


def test_truths_serialise(demo):
    files, _ = demo
    d = files.truths.to_dict()
    text = json.dumps(d)
    assert json.loads((files.customers.parent / "truths.json").read_text("utf-8")) == json.loads(text)
    assert d["bottleneck"]["start"] == files.truths.bottleneck.start.isoformat()
    assert d["exception"]["end"] == files.truths.exception.end.isoformat()
    assert {s["segment"] for s in d["value_segments"]} == {"consumer", "small_business", "enterprise"}


def test_incidents_have_ordered_whys_and_actions(demo):
    incidents = demo[0].incidents
    assert len(incidents) >= 3
    for inc in incidents:
        assert [w.position for w in inc.whys] == list(range(1, len(inc.whys) + 1))
        assert sum(w.is_root_cause for w in inc.whys) == 1 and inc.whys[-1].is_root_cause
        assert inc.actions and all(1 <= a.why_position <= len(inc.whys) for a in inc.actions)
        assert {a.kind for a in inc.actions} <= {"corrective", "preventive"}
        json.dumps(inc.to_dict())
    t = demo[0].truths
    assert {i.touchpoint for i in incidents} >= {t.bottleneck.touchpoint, t.exception.touchpoint,
                                                 t.accessibility.touchpoint}


# ---- determinism, chunking, validation -----------------------------------------------------


def _digest(files):
    paths = [files.departments, files.touchpoints, files.customers, files.feedback, *files.events,
             *files.transactions]
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_same_seed_same_bytes(tmp_path):
    cfg = DemoConfig(customers=1_500, chunk_customers=600)
    a = generate(tmp_path / "a", cfg)
    b = generate(tmp_path / "b", cfg)
    assert _digest(a) == _digest(b)
    assert a.truths == b.truths
    c = generate(tmp_path / "c", DemoConfig(customers=1_500, chunk_customers=600, seed=8))
    assert _digest(a)[2:] != _digest(c)[2:]


def test_chunking_and_regeneration(tmp_path):
    calls = []
    f = generate(tmp_path, DemoConfig(customers=2_500, chunk_customers=1_000), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)] and len(f.events) == 3
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/events/*.parquet')").fetchone()[0] == f.truths.counts.events
    persons = con.execute(f"SELECT count(*) FROM read_csv('{f.customers}') WHERE level = 'person'").fetchone()[0]
    assert persons == 2_500
    # a smaller run into the same folder leaves no stale chunks behind
    g = generate(tmp_path, DemoConfig(customers=800, chunk_customers=1_000))
    assert sorted((tmp_path / "events").iterdir()) == list(g.events)
    assert con.execute(f"SELECT count(DISTINCT customer_id) <= 800 FROM read_parquet('{tmp_path}/events/*.parquet')").fetchone()[0]


def test_rejects_a_window_too_short(tmp_path):
    with pytest.raises(InputError, match="280 days"):
        generate(tmp_path, DemoConfig(customers=100, days=100))
    with pytest.raises(InputError):
        generate(tmp_path, DemoConfig(customers=0))
