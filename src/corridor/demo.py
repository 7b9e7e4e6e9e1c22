"""The demo company: a broadband and mobile provider with planted, known truths.

``generate()`` writes the files a user would load (CSV reference tables, Parquet event
and transaction chunks, a feedback CSV) and returns their paths with the truths they were
built to contain (:mod:`corridor.truths`). Nothing is loaded into a project here.

Everything is drawn chunk by chunk (``chunk_customers`` persons at a time) with numpy
arrays, so memory stays flat and a million customers take about a minute. Each chunk has
its own random stream derived from the seed: the same seed and chunk size give
byte-identical files.

``customers`` counts the persons who walk journeys; company accounts, retail partners
(intermediaries) and corporate groups are added on top. Each person has one journey case
(``J00000001``: need → evaluation → purchase → use, app logins, loyalty, exit) and one case
per support ticket (``J00000001-S01``, ``-S02``…), so loops, channel switches and hand-offs
inside a ticket stay inside its case.

``wait_seconds`` is the queue time of phone, store and partner contacts, the time from the
order to the installation visit, and from the support call to a repair visit; it is empty
for web, app and e-mail contacts. ``cost`` = a fixed cost per contact of the channel + a
cost per minute of ``duration_seconds``. A transaction's ``kind`` is ``bill`` or
``purchase``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from corridor.errors import InputError
from corridor.truths import (
    AccessibilityTruth, AlternativeGroup, Billing, BottleneckTruth, ChannelCost, ChurnModel,
    CorridorTruth, Counts, DemoIncident, DriversTruth, Effect, ExceptionTruth, LoopsTruth,
    Measured, OptionalServices, PlantedTruths, ScoreModel, Share, ValueSegment, demo_incidents,
)

DAY = 86_400.0
HOUR = 3_600.0
WEEK = 7 * DAY


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 100_000  # ~1.9M events; ~3 s and <0.5 GB on 2 cores (15 s budget, shared machine)
    seed: int = 7
    start: dt.date = dt.date(2025, 1, 1)
    days: int = 365
    chunk_customers: int = 50_000  # customers per events chunk; memory stays flat


@dataclass(frozen=True)
class DemoFiles:
    departments: Path
    touchpoints: Path
    customers: Path
    events: tuple[Path, ...]
    transactions: tuple[Path, ...]
    feedback: Path
    model: Path  # the company model (TOML)
    incidents: tuple[DemoIncident, ...]
    truths: PlantedTruths


# ---- the company ------------------------------------------------------------------------

REGIONS = ("North", "South", "East", "West", "Capital")
REGION_P = np.array([0.20, 0.20, 0.20, 0.15, 0.25])
BOTTLENECK_REGION = 2  # East

DEPARTMENTS = (
    ("D-MKT", "Marketing"), ("D-SAL", "Sales"), ("D-RET", "Retail Stores"),
    ("D-DIG", "Digital"), ("D-FLD", "Field Operations"), ("D-CC", "Customer Care"),
    ("D-BIL", "Billing"), ("D-RTN", "Retention"),
)
CHANNELS = ("store", "phone", "web", "app", "email", "partner", "field")
CH = {c: i for i, c in enumerate(CHANNELS)}
# channel: (fixed cost per contact, cost per minute of duration)
COSTS = {"store": (8.0, 0.50), "phone": (1.5, 0.90), "web": (0.30, 0.0), "app": (0.15, 0.0),
         "email": (0.05, 0.0), "partner": (15.0, 0.0), "field": (45.0, 0.80)}

# name, stage, channel, department, declared role, median duration (s), mean queue wait (s), description
TOUCHPOINTS = (
    ("ad_seen", "need", "web", "D-MKT", "basic", 15, None, "Saw an advertisement"),
    ("website_visit", "evaluation", "web", "D-DIG", "basic", 240, None, "Visited the website"),
    ("coverage_check", "evaluation", "web", "D-DIG", "optional", 60, None, "Checked fibre coverage at an address"),
    ("plan_compare", "evaluation", "web", "D-DIG", "basic", 420, None, "Compared plans"),
    ("store_visit", "evaluation", "store", "D-RET", "optional", 1200, 420, "Asked for advice in a store"),
    ("sales_call", "evaluation", "phone", "D-SAL", "optional", 900, 60, "Call with a business sales advisor"),
    ("order_online", "purchase", "web", "D-DIG", "alternative", 480, None, "Ordered online"),
    ("order_store", "purchase", "store", "D-RET", "alternative", 1500, 600, "Ordered in a store"),
    ("order_partner", "purchase", "partner", "D-SAL", "alternative", 1800, 300, "Ordered at a retail partner"),
    ("credit_check", "purchase", "web", "D-BIL", "basic", 30, None, "Credit check"),
    ("tv_addon", "purchase", "web", "D-SAL", "optional", 120, None, "Added the TV package"),
    ("device_insurance", "purchase", "store", "D-RET", "optional", 300, None, "Took device insurance"),
    ("installation_visit", "use", "field", "D-FLD", "basic", 5400, None, "Technician installed the line"),
    ("activation", "use", "app", "D-DIG", "basic", 600, None, "Activated the service in the app"),
    ("speed_upgrade", "use", "app", "D-DIG", "optional", 90, None, "Upgraded the speed"),
    ("first_bill", "use", "email", "D-BIL", "basic", 0, None, "First bill sent"),
    ("app_login", "use", "app", "D-DIG", None, 150, None, "Logged in to the app"),
    ("support_hotline", "support", "phone", "D-CC", None, 420, 120, "Called the support hotline"),
    ("web_chat", "support", "web", "D-CC", None, 600, 45, "Web chat with an agent"),
    ("app_support", "support", "app", "D-DIG", None, 300, None, "Support request in the app"),
    ("store_support", "support", "store", "D-RET", None, 1200, 600, "Support at a store"),
    ("billing_dispute", "support", "phone", "D-BIL", None, 600, 240, "Disputed a bill with Billing"),
    ("technician_visit", "support", "field", "D-FLD", None, 3600, None, "Technician repair visit"),
    ("loyalty_offer", "loyalty", "email", "D-RTN", None, 0, None, "Received a loyalty offer"),
    ("referral", "loyalty", "web", "D-MKT", None, 60, None, "Referred a friend"),
    ("contract_cancel", "exit", "phone", "D-RTN", None, 480, 180, "Cancelled the contract"),
)
TP = {t[0]: i for i, t in enumerate(TOUCHPOINTS)}
TP_NAMES = [t[0] for t in TOUCHPOINTS]
TP_CHANNEL = np.array([CH[t[2]] for t in TOUCHPOINTS])
TP_DEPT = [t[3] for t in TOUCHPOINTS]
TP_MEDIAN = np.array([t[5] for t in TOUCHPOINTS], dtype=float)
TP_WAIT = np.array([np.nan if t[6] is None else t[6] for t in TOUCHPOINTS], dtype=float)
GOAL = "first_bill"  # a purchase journey succeeds when the first bill is sent
DOORS = (TP["order_online"], TP["order_store"], TP["order_partner"])
DOOR_CHANNEL = np.array([CH["web"], CH["store"], CH["partner"]])

# persons: consumer (direct), consumer end customer of a retail partner, small business, enterprise
PTYPE_P = np.array([0.60, 0.20, 0.12, 0.08])
SEGMENTS = ("consumer", "consumer", "small_business", "enterprise")
LANGS = ("en", "ar", "ru")
LANG_P = np.array([0.6, 0.2, 0.2])
PLANS = {  # per person type group: (plan, probability, monthly price)
    "consumer": (("fibre_100", 0.35, 29.0), ("fibre_500", 0.35, 39.0), ("fibre_1000", 0.15, 55.0),
                 ("fibre_mobile", 0.15, 65.0)),
    "small_business": (("biz_fibre", 0.7, 79.0), ("biz_fibre_pro", 0.3, 119.0)),
    "enterprise": (("ent_fibre", 0.6, 249.0), ("ent_dedicated", 0.4, 599.0)),
}
PLAN_NAMES = [p[0] for g in PLANS.values() for p in g]
PLAN_PRICE = np.array([p[2] for g in PLANS.values() for p in g])
ADDON_PRICE = {"tv_addon": 12.0, "device_insurance": 5.0, "speed_upgrade": 10.0}

# value segments: BG/NBD (weeks) and Gamma-Gamma parameters of one-off purchases
VALUE = {
    "consumer": dict(r=0.45, alpha=9.0, a=0.8, b=3.5, p=4.0, q=3.5, v=40.0),
    "small_business": dict(r=0.9, alpha=8.0, a=0.6, b=4.0, p=5.0, q=4.0, v=90.0),
    "enterprise": dict(r=1.6, alpha=6.0, a=0.4, b=5.0, p=6.0, q=5.0, v=200.0),
}

# journey probabilities
P_AD, P_WEB, P_COV, P_CMP = 0.93, 0.95, 0.35, 0.96
P_INTENT, P_STORE_VISIT, P_SALES_CALL = 0.80, 0.25, 0.50
P_ONLINE = 0.56  # direct persons: online, else store; end customers order at their partner
P_ABANDON = (0.08, 0.0, 0.0)
P_CREDIT_FAIL = 0.04
P_TV, P_INSURANCE, P_SPEED = 0.28, 0.18, 0.12
WAIT_MEAN_DAYS, WAIT_SHAPE, GROWTH_PER_WEEK, GROWTH_WEEKS = 3.0, 4.0, 0.35, 10
P_ACT_FAIL = 0.03
P_APP_USER, APP_LOGIN_EVERY_DAYS = 0.55, 6.0
EXC_BASE, EXC_RATE, EXC_RETRY, EXC_DAYS = 0.02, 0.50, 0.8, 4
CASES_PER_YEAR = 2.0
CASE_TYPES = (0.45, 0.35, 0.20)  # technical, billing, digital
FAIL_HOURS = ((12, 14), (18, 22))
OPEN_HOURS = (8, 22)  # the phone lines
STORE_HOURS = (10, 20)  # the stores, every day
FAIL_IN, FAIL_OUT, P_SWITCH = 0.55, 0.06, 0.60
SWITCH_TO = (("web_chat", 0.5), ("app_support", 0.3), ("store_support", 0.2))
P_TECH, P_REVISIT, P_PINGPONG = 0.40, 0.25, 0.30
TECH_DAYS, REVISIT_DAYS = (1.0, 5.0), (2.0, 7.0)  # a repair visit is booked this many days on
NPS = dict(intercept=8.2, failed=-0.8, pingpong=-1.5, sd=1.3, rate=0.5)
CSAT = dict(intercept=4.4, wait=-0.15, sd=0.6, rate=0.45)
CES = dict(intercept=5.6, failed=-0.9, pingpong=-1.2, sd=0.8, rate=0.30)
CHURN = dict(intercept=-3.2, failed=0.7, pingpong=0.9, delay_days=(1.0, 3.0), baseline_per_year=0.04)
P_REFER_PROMOTER, P_REFER_OTHER, P_LOYALTY = 0.30, 0.03, 0.30
BILL_EVERY, BILL_MARGIN, PURCHASE_MARGIN = 30, 0.42, 0.30

# hour-of-day profiles (weights for hours 0..23)
WEB_HOURS = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 8, 7, 7, 7, 8, 9, 10, 10, 8, 5, 2], float)
CALL_HOURS = np.array([0] * 8 + [6, 8, 8, 8, 10, 9, 7, 7, 7, 7, 8, 7, 6, 4] + [0, 0], float)
WEB_HOURS /= WEB_HOURS.sum()
CALL_HOURS /= CALL_HOURS.sum()


def _dates(cfg: DemoConfig):
    first_monday = cfg.start + dt.timedelta(days=(7 - cfg.start.weekday()) % 7)
    b_start = first_monday + dt.timedelta(days=7 * round(0.4 * cfg.days / 7))
    b_resolved = b_start + dt.timedelta(weeks=18)
    e_start = b_start + dt.timedelta(weeks=11)
    return b_start, b_resolved, e_start


def _secs(cfg: DemoConfig, d: dt.date) -> float:
    return (d - cfg.start).days * DAY


# ---- small vector helpers ---------------------------------------------------------------


def _tod(rng, k: int, weights) -> np.ndarray:
    return rng.choice(24, size=k, p=weights) * HOUR + rng.uniform(0, HOUR, k)


def _open_after(rng, t, lo: float, hi: float) -> np.ndarray:
    """A random time within opening hours [lo, hi) on the same day, or the next day if
    that would be before ``t``."""
    day = np.floor(t / DAY) * DAY
    cand = day + rng.uniform(lo * HOUR, hi * HOUR, len(t))
    return np.where(cand < t, cand + DAY, cand)


def _appointment(rng, t, lo: float, hi: float) -> np.ndarray:
    """A random time within [lo, hi) on the day ``t`` falls in."""
    return np.floor(t / DAY) * DAY + rng.uniform(lo * HOUR, hi * HOUR, len(t))


def _duration(rng, tp, k: int) -> np.ndarray:
    return np.round(TP_MEDIAN[tp] * np.exp(0.5 * rng.standard_normal(k)))


def _score(rng, latent, sd, low, high) -> np.ndarray:
    return np.clip(np.round(latent + rng.normal(0, sd, len(latent))), low, high)


class _Events:
    """Columns of one chunk's events, collected part by part."""

    def __init__(self):
        self.parts: list[tuple] = []

    def add(self, cust, ts, tp, outcome=0, wait=-1.0, dur=None, channel=-1, case=-1):
        k = len(cust)
        if k == 0:
            return
        case = np.broadcast_to(np.asarray(case, dtype=np.int64), (k,))
        tp = np.broadcast_to(np.asarray(tp), (k,))
        out = np.broadcast_to(np.asarray(outcome, dtype=np.int8), (k,))
        wait = np.broadcast_to(np.asarray(wait, dtype=float), (k,))
        dur = np.full(k, np.nan) if dur is None else np.asarray(dur, dtype=float)
        ch = np.broadcast_to(np.asarray(channel), (k,))
        self.parts.append((cust, ts, tp, out, wait, dur, ch, case))

    def columns(self):
        cols = [np.concatenate([p[i] for p in self.parts]) for i in range(8)]
        cust, ts, tp, out, wait, dur, ch, case = cols
        return cust.astype(np.int64), ts, tp.astype(np.int16), out.astype(np.int8), wait, dur, ch, case


OK, FAILED, ABANDONED = 0, 1, 2
OUTCOMES = ("ok", "failed", "abandoned")


# ---- the world outside the chunks: corporate groups and retail partners ----------------


@dataclass
class _World:
    groups: int
    partners: int
    partner_region: np.ndarray


def _world(cfg: DemoConfig) -> _World:
    groups = 3 + cfg.customers // 25_000
    partners = max(5, round(cfg.customers / 2_500))
    return _World(groups, partners, np.arange(partners) % len(REGIONS))


def _ids(prefix: str, numbers, width: int) -> pa.Array:
    s = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


CUSTOMER_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("level", pa.string()), ("parent_id", pa.string()),
    ("relation", pa.string()), ("segment", pa.string()), ("region", pa.string()),
    ("since", pa.date32()), ("name", pa.string()), ("email", pa.string()), ("phone", pa.string()),
    ("plan", pa.string()), ("language", pa.string()),
])


def _customer_table(n, **cols) -> pa.Table:
    arrays = []
    for f in CUSTOMER_SCHEMA:
        v = cols.get(f.name)
        if v is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(v, (pa.Array, pa.ChunkedArray)):
            arrays.append(v.cast(f.type) if v.type != f.type else v)
        else:
            arrays.append(pa.array(v, f.type))
    return pa.Table.from_arrays(arrays, schema=CUSTOMER_SCHEMA)


def _world_rows(cfg: DemoConfig, w: _World) -> pa.Table:
    rng = np.random.default_rng([cfg.seed, 1])
    g_ids = _ids("G", np.arange(1, w.groups + 1), 4)
    g_names = [GROUP_NAMES[i % len(GROUP_NAMES)] + ("" if i < len(GROUP_NAMES) else f" {i // len(GROUP_NAMES) + 1}")
               for i in range(w.groups)]
    start = np.datetime64(cfg.start, "D")
    groups = _customer_table(
        w.groups, customer_id=g_ids, level=["corporate"] * w.groups, relation=["direct"] * w.groups,
        segment=["enterprise"] * w.groups, name=g_names,
        since=start - rng.integers(2000, 6000, w.groups))
    p_ids = _ids("R", np.arange(1, w.partners + 1), 4)
    chain = rng.random(w.partners) < 0.5  # half of the partners belong to the retail chain group G0001
    p_names = [f"{PARTNER_NAMES[i % len(PARTNER_NAMES)]} {REGIONS[w.partner_region[i]]} {i // len(PARTNER_NAMES) + 1}"
               for i in range(w.partners)]
    partners = _customer_table(
        w.partners, customer_id=p_ids, level=["intermediary"] * w.partners,
        parent_id=pa.array(np.where(chain, "G0001", None).tolist(), pa.string()),
        relation=["direct"] * w.partners, segment=["retail_partner"] * w.partners,
        region=[REGIONS[r] for r in w.partner_region], name=p_names,
        since=start - rng.integers(300, 3000, w.partners))
    return pa.concat_tables([groups, partners])


# ---- one chunk of persons ---------------------------------------------------------------


@dataclass
class _Chunk:
    customers: pa.Table
    events: pa.Table
    transactions: pa.Table
    feedback: pa.Table
    companies: int
    goal: int
    goal_cover: np.ndarray


def _chunk(cfg: DemoConfig, w: _World, ci: int, lo: int, n: int, company_base: int) -> _Chunk:
    rng = np.random.default_rng([cfg.seed, 2, ci])
    end = cfg.days * DAY
    b_start, b_resolved, e_start = _dates(cfg)
    ev = _Events()
    idx = np.arange(n)

    # -- who they are
    ptype = rng.choice(4, size=n, p=PTYPE_P)
    region = rng.choice(len(REGIONS), size=n, p=REGION_P)
    lang = rng.choice(3, size=n, p=LANG_P)
    parent = np.full(n, None, dtype=object)
    # company people grouped into company accounts made in this chunk
    comp_rows, n_comp = [], 0
    for t, (lo_size, hi_size) in ((2, (1, 8)), (3, (8, 60))):
        people = np.flatnonzero(ptype == t)
        if people.size == 0:
            continue
        cum = np.cumsum(rng.integers(lo_size, hi_size + 1, size=people.size))
        of = np.searchsorted(cum, np.arange(people.size), side="right")
        k = int(of.max()) + 1
        c_num = company_base + n_comp + np.arange(k) + 1
        c_ids = np.asarray(_ids("K", c_num, 6).to_pylist(), dtype=object)
        c_region = rng.choice(len(REGIONS), size=k, p=REGION_P)
        c_lang = rng.choice(3, size=k, p=LANG_P)
        region[people] = c_region[of]
        parent[people] = c_ids[of]
        c_parent = np.full(k, None, dtype=object)
        if t == 3:
            owned = rng.random(k) < 0.5
            c_parent[owned] = _ids("G", rng.integers(2, w.groups + 1, owned.sum()), 4).to_pylist()
        c_name = _company_names(rng, c_lang)
        comp_rows.append(_customer_table(
            k, customer_id=c_ids.tolist(), level=["company"] * k, parent_id=c_parent.tolist(),
            relation=["direct"] * k, segment=[SEGMENTS[t]] * k, region=[REGIONS[r] for r in c_region],
            name=c_name, since=np.datetime64(cfg.start, "D") - rng.integers(30, 3000, k),
            email=_company_emails(c_num)))
        n_comp += k
    end_cust = np.flatnonzero(ptype == 1)
    cnt = (w.partners - np.arange(len(REGIONS)) + len(REGIONS) - 1) // len(REGIONS)
    r_end = region[end_cust]
    partner = r_end + len(REGIONS) * np.floor(rng.random(end_cust.size) * cnt[r_end]).astype(np.int64)
    parent[end_cust] = _ids("R", partner + 1, 4).to_pylist()
    seg = np.array(SEGMENTS)[ptype]
    plan_group = np.where(ptype <= 1, 0, ptype - 1)
    plan = np.empty(n, dtype=np.int64)
    offset = 0
    for g, plans in enumerate(PLANS.values()):
        m = plan_group == g
        plan[m] = offset + rng.choice(len(plans), size=m.sum(), p=[p[1] for p in plans])
        offset += len(plans)

    # -- need and evaluation
    t0 = rng.integers(0, cfg.days, n) * DAY + _tod(rng, n, WEB_HOURS)
    has_ad, has_web = rng.random(n) < P_AD, rng.random(n) < P_WEB
    has_cov, has_cmp = rng.random(n) < P_COV, rng.random(n) < P_CMP
    t_web = t0 + np.where(has_ad, 600 + rng.exponential(1.5 * DAY, n), 0.0)
    t_cov = t_web + rng.uniform(120, 900, n)
    t_cmp = t_web + rng.uniform(1000, 2400, n)
    ev.add(idx[has_ad], t0[has_ad], TP["ad_seen"])
    ev.add(idx[has_web], t_web[has_web], TP["website_visit"])
    ev.add(idx[has_cov], t_cov[has_cov], TP["coverage_check"])
    ev.add(idx[has_cmp], t_cmp[has_cmp], TP["plan_compare"])
    last = t_cmp.copy()
    sv = np.flatnonzero(rng.random(n) < P_STORE_VISIT)
    t_sv = _open_after(rng, t_cmp[sv] + rng.uniform(0.3, 3, sv.size) * DAY, *STORE_HOURS)
    ev.add(sv, t_sv, TP["store_visit"])
    last[sv] = np.maximum(last[sv], t_sv + 3600)
    sc = np.flatnonzero((ptype >= 2) & (rng.random(n) < P_SALES_CALL))
    t_sc = _open_after(rng, t_cmp[sc] + rng.uniform(HOUR, 2 * DAY, sc.size), 9, 17)
    ev.add(sc, t_sc, TP["sales_call"])
    last[sc] = np.maximum(last[sc], t_sc + 3600)

    # -- purchase: one door per journey
    intent = rng.random(n) < P_INTENT
    door = np.where(ptype == 1, 2, np.where(rng.random(n) < P_ONLINE, 0, 1))
    t_order = last + 1800 + rng.exponential(1.2 * DAY, n)
    shop = door > 0
    t_order[shop] = _open_after(rng, t_order[shop], *STORE_HOURS)
    abandon = intent & (rng.random(n) < np.array(P_ABANDON)[door])
    o = np.flatnonzero(intent)
    ev.add(o, t_order[o], np.array(DOORS)[door[o]], outcome=np.where(abandon[o], ABANDONED, OK))
    placed = intent & ~abandon
    credit_fail = rng.random(n) < P_CREDIT_FAIL
    p_ = np.flatnonzero(placed)
    ev.add(p_, t_order[p_] + rng.uniform(60, 300, p_.size), TP["credit_check"],
           outcome=np.where(credit_fail[p_], FAILED, OK))
    won = placed & ~credit_fail
    tv = won & (rng.random(n) < P_TV)
    ins = won & (rng.random(n) < P_INSURANCE)
    speed = won & (rng.random(n) < P_SPEED)
    for mask, tp, (a, b) in ((tv, "tv_addon", (400, 900)), (ins, "device_insurance", (950, 1500))):
        i = np.flatnonzero(mask)
        ev.add(i, t_order[i] + rng.uniform(a, b, i.size), TP[tp], channel=DOOR_CHANNEL[door[i]])

    # -- installation (the bottleneck), activation, first bill
    wi = np.flatnonzero(won)
    growth = np.clip((t_order[wi] - _secs(cfg, b_start)) / WEEK, 0, GROWTH_WEEKS)
    hit = (region[wi] == BOTTLENECK_REGION) & (t_order[wi] < _secs(cfg, b_resolved))
    factor = np.where(hit, 1 + GROWTH_PER_WEEK * growth, 1.0)
    wait = rng.gamma(WAIT_SHAPE, WAIT_MEAN_DAYS * DAY / WAIT_SHAPE * factor)
    t_inst = np.maximum(_appointment(rng, t_order[wi] + wait, 8, 17), t_order[wi] + 4 * HOUR)
    wait_inst = np.round(t_inst - t_order[wi])
    t_inst = t_order[wi] + wait_inst
    dur_inst = _duration(rng, TP["installation_visit"], wi.size)
    ev.add(wi, t_inst, TP["installation_visit"], wait=wait_inst, dur=dur_inst)
    t_act = t_inst + dur_inst + rng.uniform(300, 1800, wi.size)
    pending = np.arange(wi.size)
    while pending.size:
        fail = rng.random(pending.size) < P_ACT_FAIL
        ev.add(wi[pending], t_act[pending], TP["activation"], outcome=np.where(fail, FAILED, OK))
        pending = pending[fail]
        t_act[pending] += rng.uniform(1800, 4 * HOUR, pending.size)
    act = np.full(n, np.inf)
    act[wi] = t_act
    sp = np.flatnonzero(speed)
    ev.add(sp, act[sp] + rng.uniform(1, 25, sp.size) * DAY, TP["speed_upgrade"])
    bill0 = np.full(n, np.inf)
    bill0[wi] = np.floor((t_act + 30 * DAY) / DAY) * DAY + 3 * HOUR
    ev.add(wi, bill0[wi], TP["first_bill"], dur=np.zeros(wi.size))
    fb = []  # feedback parts: (cust, ts, tp, metric, score, context)
    cs = rng.random(wi.size) < CSAT["rate"]
    lat = CSAT["intercept"] + CSAT["wait"] * wait_inst[cs] / DAY
    fb.append((wi[cs], t_inst[cs] + dur_inst[cs] + rng.uniform(HOUR, 5 * HOUR, cs.sum()),
               TP["installation_visit"], 1, _score(rng, lat, CSAT["sd"], 1, 5), 0))

    # -- life as a customer: app logins (with the outage), support cases
    on = np.flatnonzero(act < end)
    app = on[rng.random(on.size) < P_APP_USER]
    k = rng.poisson((end - act[app]) / (APP_LOGIN_EVERY_DAYS * DAY))
    cust = np.repeat(app, k)
    t = act[cust] + rng.random(cust.size) * (end - act[cust])
    x0, x1 = _secs(cfg, e_start), _secs(cfg, e_start) + EXC_DAYS * DAY
    while cust.size:
        fail = rng.random(cust.size) < np.where((t >= x0) & (t < x1), EXC_RATE, EXC_BASE)
        ev.add(cust, t, TP["app_login"], outcome=np.where(fail, FAILED, OK))
        again = fail & (rng.random(cust.size) < EXC_RETRY)
        cust, t = cust[again], t[again] + rng.uniform(60, 1800, again.sum())

    k = np.minimum(rng.poisson(CASES_PER_YEAR * (end - act[on]) / (365 * DAY)), 99)
    c_cust = np.repeat(on, k)
    nc = c_cust.size
    c_start = act[c_cust] + HOUR + rng.random(nc) * (end - act[c_cust])
    o = np.lexsort((c_start, c_cust))
    c_start = c_start[o]
    c_rank = np.arange(nc) - np.repeat(np.cumsum(k) - k, k)  # 0-based, per customer, in time order
    c_type = rng.choice(3, size=nc, p=CASE_TYPES)
    c_fail = np.zeros(nc)
    c_pp = np.zeros(nc, dtype=bool)
    c_t2 = np.full(nc, np.inf)  # when a ping-pong completed
    c_end = np.zeros(nc)  # time the case's last contact ended
    c_tp = np.full(nc, TP["support_hotline"])
    # hotline cases: the accessibility failure
    h = np.flatnonzero(c_type < 2)
    t = np.floor(c_start[h] / DAY) * DAY + _tod(rng, h.size, CALL_HOURS)
    t = np.where(t < act[c_cust[h]], t + DAY, t)
    open_lo, open_hi = OPEN_HOURS
    while h.size:
        hour = np.floor((t % DAY) / HOUR)
        in_hours = np.zeros(h.size, dtype=bool)
        for a, b in FAIL_HOURS:
            in_hours |= (hour >= a) & (hour < b)
        fail = rng.random(h.size) < np.where(in_hours, FAIL_IN, FAIL_OUT)
        qwait = np.round(np.where(fail, rng.uniform(240, 900, h.size), rng.gamma(2.0, 60.0, h.size)))
        dur = np.where(fail, np.round(rng.uniform(5, 40, h.size)), _duration(rng, TP["support_hotline"], h.size))
        ev.add(c_cust[h], t, TP["support_hotline"], outcome=np.where(fail, FAILED, OK), wait=qwait, dur=dur,
               case=h)
        c_fail[h] += fail
        done = t + qwait + dur
        c_end[h[~fail]] = done[~fail]
        switch = fail & (rng.random(h.size) < P_SWITCH)
        s = np.flatnonzero(switch)
        target = rng.choice(3, size=s.size, p=[p for _, p in SWITCH_TO])
        ts = done[s] + rng.uniform(120, 1800, s.size)
        store = target == 2
        ts[store] = _open_after(rng, done[s][store] + HOUR, *STORE_HOURS)
        s_tp = np.array([TP[x] for x, _ in SWITCH_TO])[target]
        s_dur = _duration(rng, s_tp, s.size)
        ev.add(c_cust[h[s]], ts, s_tp, dur=s_dur, case=h[s])
        c_end[h[s]] = ts + s_dur
        retry = fail & ~switch
        tr = done[retry] + rng.uniform(600, 5400, retry.sum())
        hr = (tr % DAY) / HOUR
        closed = (hr < open_lo) | (hr >= open_hi)
        tr[closed] = np.floor(tr[closed] / DAY + (hr[closed] >= open_hi)) * DAY + open_lo * HOUR \
            + rng.uniform(0, 2 * HOUR, closed.sum())
        h, t = h[retry], tr
    # digital cases
    d = np.flatnonzero(c_type == 2)
    d_tp = np.where(rng.random(d.size) < 0.5, TP["web_chat"], TP["app_support"])
    d_dur = _duration(rng, d_tp, d.size)
    ev.add(c_cust[d], c_start[d], d_tp, dur=d_dur, case=d)
    c_end[d], c_tp[d] = c_start[d] + d_dur, d_tp
    # technical cases: technician visits, sometimes a second (rework)
    tech = np.flatnonzero((c_type == 0) & (rng.random(nc) < P_TECH))
    tt = _appointment(rng, c_end[tech] + rng.uniform(*TECH_DAYS, tech.size) * DAY, 8, 17)
    td = _duration(rng, TP["technician_visit"], tech.size)
    ev.add(c_cust[tech], tt, TP["technician_visit"], wait=np.round(tt - c_end[tech]), dur=td, case=tech)
    c_end[tech] = tt + td
    rev = tech[rng.random(tech.size) < P_REVISIT]
    tt = _appointment(rng, c_end[rev] + rng.uniform(*REVISIT_DAYS, rev.size) * DAY, 8, 17)
    td = _duration(rng, TP["technician_visit"], rev.size)
    ev.add(c_cust[rev], tt, TP["technician_visit"], wait=np.round(tt - c_end[rev]), dur=td, case=rev)
    c_end[rev] = tt + td
    # billing cases: hand-off to Billing, sometimes a ping-pong with the stores
    bil = np.flatnonzero(c_type == 1)
    tb = c_end[bil] + rng.uniform(300, 1800, bil.size)
    bd = _duration(rng, TP["billing_dispute"], bil.size)
    ev.add(c_cust[bil], tb, TP["billing_dispute"], dur=bd, case=bil)
    c_end[bil] = tb + bd
    pp = bil[rng.random(bil.size) < P_PINGPONG]
    t1 = _open_after(rng, c_end[pp] + rng.uniform(2 * HOUR, 2 * DAY, pp.size), *STORE_HOURS)
    d1 = _duration(rng, TP["store_support"], pp.size)
    t2 = _open_after(rng, t1 + d1 + rng.uniform(HOUR, 3 * DAY, pp.size), 8, 20)
    d2 = _duration(rng, TP["billing_dispute"], pp.size)
    ev.add(c_cust[pp], t1, TP["store_support"], dur=d1, case=pp)
    ev.add(c_cust[pp], t2, TP["billing_dispute"], dur=d2, case=pp)
    c_end[pp] = t2 + d2
    c_pp[pp], c_t2[pp] = True, t2

    # -- what the cases did to the customer: exits, NPS, CES, referrals
    # each support case may make the customer leave 1-3 days after its last contact; a few
    # leave for other reasons; the first exit counts and nothing happens after it
    logit = CHURN["intercept"] + CHURN["failed"] * c_fail + CHURN["pingpong"] * c_pp
    trig = rng.random(nc) < 1 / (1 + np.exp(-logit))
    t_trig = c_end + rng.uniform(*CHURN["delay_days"], nc) * DAY
    exit_ = np.full(n, np.inf)
    np.minimum.at(exit_, c_cust[trig], t_trig[trig])
    exit_[on] = np.minimum(exit_[on], act[on] + rng.exponential(365 * DAY / CHURN["baseline_per_year"], on.size))
    gone = np.flatnonzero(exit_ < end)
    ev.add(gone, exit_[gone], TP["contract_cancel"])
    cust_e, ts_e, tp_e, out_e = ev.columns()[:4]
    lived = (ts_e < end) & (ts_e <= exit_[cust_e])
    support = lived & (tp_e >= TP["support_hotline"]) & (tp_e <= TP["technician_visit"])
    last_support = np.full(n, -np.inf)
    np.maximum.at(last_support, cust_e[support], ts_e[support])
    n_fail = np.bincount(cust_e[lived & (tp_e == TP["support_hotline"]) & (out_e == FAILED)], minlength=n)
    n_pp = np.bincount(c_cust[c_pp & (c_t2 < end) & (c_t2 <= exit_[c_cust])], minlength=n)
    ce = np.flatnonzero((rng.random(nc) < CES["rate"]) & (c_end <= exit_[c_cust]))
    lat = CES["intercept"] + CES["failed"] * c_fail[ce] + CES["pingpong"] * c_pp[ce]
    fb.append((c_cust[ce], c_end[ce] + rng.uniform(HOUR, 4 * HOUR, ce.size), c_tp[ce], 2,
               _score(rng, lat, CES["sd"], 1, 7), 1))
    left = exit_[on] < end
    base = np.maximum(act[on], last_support[on])
    nps_lat = NPS["intercept"] + NPS["failed"] * n_fail[on] + NPS["pingpong"] * n_pp[on] \
        + rng.normal(0, NPS["sd"], on.size)
    nps_score = np.clip(np.round(nps_lat), 0, 10)
    asked = rng.random(on.size) < NPS["rate"]
    t_nps = np.where(left, exit_[on] + rng.uniform(HOUR, DAY, on.size), base + rng.uniform(1, 30, on.size) * DAY)
    fb.append((on[asked], t_nps[asked], -1, 0, nps_score[asked], 2))
    refer = ~left & (rng.random(on.size) < np.where(nps_score >= 9, P_REFER_PROMOTER, P_REFER_OTHER))
    ev.add(on[refer], base[refer] + rng.uniform(1, 40, refer.sum()) * DAY, TP["referral"])
    lo_ = on[rng.random(on.size) < P_LOYALTY]
    ev.add(lo_, act[lo_] + rng.uniform(60, 330, lo_.size) * DAY, TP["loyalty_offer"])

    # -- assemble the events
    cols = ev.columns()
    keep = (cols[1] < end) & (cols[1] <= exit_[cols[0]])
    cols = [a[keep] for a in cols]
    cols[1] = np.floor(cols[1])
    rank = np.where(cols[7] < 0, -1, c_rank[cols[7]])  # the journey first, then the tickets in order
    order = np.lexsort((cols[2], cols[1], rank, cols[0]))
    cust_e, ts_e, tp_e, out_e, wait_e, dur_e, ch_e, rank = (a[order] for a in cols[:7] + [rank])
    todo = np.isnan(dur_e)
    dur_e[todo] = _duration(rng, tp_e[todo], todo.sum())
    todo = wait_e < 0
    mean_wait = TP_WAIT[tp_e[todo]]
    drawn = np.round(rng.gamma(2.0, np.nan_to_num(mean_wait, nan=1.0) / 2.0))
    wait_e[todo] = np.where(np.isnan(mean_wait), np.nan, drawn)
    ch_e = np.where(ch_e < 0, TP_CHANNEL[tp_e], ch_e)
    fixed = np.array([COSTS[c][0] for c in CHANNELS])
    per_min = np.array([COSTS[c][1] for c in CHANNELS])
    cost = np.round(fixed[ch_e] + per_min[ch_e] * dur_e / 60.0, 2)
    person_num = lo + idx + 1
    c_ids = _ids("C", person_num, 8)
    j_ids = _ids("J", person_num, 8)
    cidx = pa.array(cust_e)
    ticket = rank >= 0
    case_id = pc.take(j_ids, cidx)
    suffix = pc.binary_join_element_wise(
        "-S", pc.utf8_lpad(pa.array(np.maximum(rank, 0) + 1).cast(pa.string()), 2, "0"), "")
    case_id = pc.if_else(pa.array(ticket), pc.binary_join_element_wise(case_id, suffix, ""), case_id)
    start_us = int((np.datetime64(cfg.start, "s") - np.datetime64(0, "s")).astype(np.int64)) * 1_000_000
    events = pa.table({
        "customer_id": pc.take(c_ids, cidx),
        "case_id": case_id,
        "touchpoint": pc.take(pa.array(TP_NAMES), pa.array(tp_e)),
        "timestamp": pa.array(start_us + ts_e.astype(np.int64) * 1_000_000, pa.timestamp("us")),
        "channel": pc.take(pa.array(CHANNELS), pa.array(ch_e)),
        "outcome": pc.take(pa.array(OUTCOMES), pa.array(out_e)),
        "wait_seconds": pa.array(wait_e, from_pandas=True),
        "duration_seconds": pa.array(dur_e),
        "cost": pa.array(cost),
        "department_id": pc.take(pa.array(TP_DEPT), pa.array(tp_e)),
    })
    # coverage among goal-reaching journeys, for the measured truths
    seen = np.zeros((n, len(TOUCHPOINTS)), dtype=bool)
    seen[cust_e[~ticket], tp_e[~ticket]] = True
    goal = seen[:, TP[GOAL]]

    # -- transactions: one-off purchases (BG/NBD + Gamma-Gamma) and monthly bills
    t_end = np.minimum(end, exit_)
    buyers = np.flatnonzero(won & (t_order < end))
    tx_c, tx_t, tx_a, tx_k = [buyers], [t_order[buyers]], [], [np.ones(buyers.size, np.int8)]
    nu = np.empty(buyers.size)
    rep_c, rep_t = [], []
    for s_name, par in VALUE.items():
        sel = np.flatnonzero(seg[buyers] == s_name)
        bc = buyers[sel]
        nu[sel] = rng.gamma(par["q"], 1.0 / par["v"], sel.size)
        lam = rng.gamma(par["r"], 1.0 / par["alpha"], sel.size)
        pdrop = rng.beta(par["a"], par["b"], sel.size)
        T = (t_end[bc] - t_order[bc]) / WEEK
        N = rng.poisson(lam * T)
        J = rng.geometric(np.maximum(pdrop, 1e-12))
        rc = np.repeat(np.arange(sel.size), N)
        u = rng.random(rc.size) * T[rc]
        o2 = np.lexsort((u, rc))
        rc, u = rc[o2], u[o2]
        first = np.concatenate([[0], np.cumsum(N)[:-1]])
        nth = np.arange(rc.size) - first[rc]
        k2 = nth < J[rc]
        rep_c.append(sel[rc[k2]])
        rep_t.append(t_order[bc[rc[k2]]] + u[k2] * WEEK)
    rep_c, rep_t = np.concatenate(rep_c), np.concatenate(rep_t)
    tx_c.append(buyers[rep_c])
    tx_t.append(rep_t)
    tx_k.append(np.ones(rep_c.size, np.int8))
    pur_owner = np.concatenate([np.arange(buyers.size), rep_c])
    gg_p = np.array([VALUE[s]["p"] for s in SEGMENTS])[ptype[buyers]]
    pur_amount = np.round(rng.gamma(gg_p[pur_owner], 1.0 / nu[pur_owner]), 2)
    tx_a.append(pur_amount)
    billed = np.flatnonzero(bill0 < t_end)
    nb = np.ceil((t_end[billed] - bill0[billed]) / (BILL_EVERY * DAY)).astype(np.int64)
    bc = np.repeat(billed, nb)
    kth = np.arange(bc.size) - np.repeat(np.cumsum(nb) - nb, nb)
    price = PLAN_PRICE[plan] + ADDON_PRICE["tv_addon"] * tv + ADDON_PRICE["device_insurance"] * ins \
        + ADDON_PRICE["speed_upgrade"] * speed
    tx_c.append(bc)
    tx_t.append(bill0[bc] + kth * BILL_EVERY * DAY)
    tx_a.append(price[bc])
    tx_k.append(np.zeros(bc.size, np.int8))
    tx_c, tx_t, tx_a, tx_k = (np.concatenate(x) for x in (tx_c, tx_t, tx_a, tx_k))
    tx_t = np.floor(tx_t)
    o3 = np.lexsort((tx_t, tx_c))
    tx_c, tx_t, tx_a, tx_k = tx_c[o3], tx_t[o3], tx_a[o3], tx_k[o3]
    margin = np.round(tx_a * np.where(tx_k == 1, PURCHASE_MARGIN, BILL_MARGIN), 2)
    transactions = pa.table({
        "customer_id": pc.take(c_ids, pa.array(tx_c)),
        "timestamp": pa.array(start_us + tx_t.astype(np.int64) * 1_000_000, pa.timestamp("us")),
        "amount": pa.array(tx_a),
        "margin": pa.array(margin),
        "kind": pc.take(pa.array(["bill", "purchase"]), pa.array(tx_k)),
    })

    # -- feedback
    f_c = np.concatenate([p[0] for p in fb])
    f_t = np.floor(np.concatenate([p[1] for p in fb]))
    f_tp = np.concatenate([np.broadcast_to(p[2], p[0].shape) for p in fb])
    f_m = np.concatenate([np.full(p[0].size, p[3]) for p in fb])
    f_s = np.concatenate([p[4] for p in fb])
    f_ctx = np.concatenate([np.full(p[0].size, p[5]) for p in fb])
    keep = (f_t < end) & (f_t <= exit_[f_c] + DAY)
    f_c, f_t, f_tp, f_m, f_s, f_ctx = (a[keep] for a in (f_c, f_t, f_tp, f_m, f_s, f_ctx))
    o4 = np.lexsort((f_m, f_t, f_c))
    f_c, f_t, f_tp, f_m, f_s, f_ctx = (a[o4] for a in (f_c, f_t, f_tp, f_m, f_s, f_ctx))
    f_lang = np.where(rng.random(f_c.size) < 0.9, lang[f_c], 0)
    text = _feedback_texts(rng, f_lang, f_ctx, f_m, f_s)
    feedback = pa.table({
        "customer_id": pc.take(c_ids, pa.array(f_c)),
        "timestamp": pa.array(start_us // 1_000_000 + f_t.astype(np.int64), pa.timestamp("s")),
        "touchpoint": pa.array(np.where(f_tp >= 0, np.array(TP_NAMES, dtype=object)[np.maximum(f_tp, 0)], None),
                               pa.string()),
        "metric": pc.take(pa.array(["nps", "csat", "ces"]), pa.array(f_m)),
        "score": pa.array(f_s.astype(np.int64)),
        "text": text,
        "language": pc.take(pa.array(LANGS), pa.array(f_lang)),
    })

    # -- the persons' rows
    first_seen = np.floor(t0 / DAY).astype("timedelta64[D]") + np.datetime64(cfg.start, "D")
    nm, email, phone = _person_pii(rng, lang, person_num)
    persons = _customer_table(
        n, customer_id=c_ids, level=["person"] * n, parent_id=parent.tolist(),
        relation=np.where(ptype == 1, "end", "direct").tolist(), segment=seg.tolist(),
        region=np.array(REGIONS)[region].tolist(), since=first_seen, name=nm, email=email, phone=phone,
        plan=np.where(won, np.array(PLAN_NAMES, dtype=object)[plan], None).tolist(),
        language=np.array(LANGS)[lang].tolist())
    customers = pa.concat_tables(comp_rows + [persons])
    return _Chunk(customers, events, transactions, feedback, n_comp, int(goal.sum()), seen[goal].sum(axis=0))


# ---- the truths -------------------------------------------------------------------------


def _truths(cfg: DemoConfig, counts: Counts, goal: int, cover: np.ndarray) -> PlantedTruths:
    b_start, b_resolved, e_start = _dates(cfg)
    direct = PTYPE_P[0] + PTYPE_P[2] + PTYPE_P[3]
    door_p = np.array([direct * P_ONLINE, direct * (1 - P_ONLINE), PTYPE_P[1]]) * (1 - np.array(P_ABANDON))
    door_p = door_p / door_p.sum()
    doors = tuple(Share(TP_NAMES[d], round(float(s), 6)) for d, s in zip(DOORS, door_p))
    basic = ("ad_seen", "website_visit", "plan_compare", "credit_check", "installation_visit", "activation",
             "first_bill")
    cov = dict(ad_seen=P_AD, website_visit=P_WEB, plan_compare=P_CMP, credit_check=1.0,
               installation_visit=1.0, activation=1.0, first_bill=1.0)
    steps = tuple((b,) for b in basic[:3]) + (tuple(TP_NAMES[d] for d in DOORS),) + tuple((b,) for b in basic[3:])
    corridor = CorridorTruth(
        goal=GOAL, steps=steps, basic=basic, coverage=tuple(Share(k, v) for k, v in cov.items()),
        other_optional=(Share("coverage_check", P_COV), Share("store_visit", P_STORE_VISIT),
                        Share("sales_call", round(P_SALES_CALL * (PTYPE_P[2] + PTYPE_P[3]), 6))))
    alt = AlternativeGroup(step="order", doors=doors, coverage=1.0, co_occurrence=0.0,
                           abandon_rate=tuple(Share(TP_NAMES[d], r) for d, r in zip(DOORS, P_ABANDON)),
                           partner_door_is_end_customers=True)
    optional = OptionalServices((Share("tv_addon", P_TV), Share("device_insurance", P_INSURANCE),
                                 Share("speed_upgrade", P_SPEED)))
    peak = round(WAIT_MEAN_DAYS * (1 + GROWTH_PER_WEEK * GROWTH_WEEKS), 6)
    bottleneck = BottleneckTruth(
        touchpoint="installation_visit", region=REGIONS[BOTTLENECK_REGION], start=b_start,
        growth_weeks=GROWTH_WEEKS, weekly_growth_factor=GROWTH_PER_WEEK,
        weekly_growth_days=round(WAIT_MEAN_DAYS * GROWTH_PER_WEEK, 6),
        peak_from=b_start + dt.timedelta(weeks=GROWTH_WEEKS), resolved_on=b_resolved,
        wait_mean_days_before=WAIT_MEAN_DAYS, wait_mean_days_peak=peak, wait_mean_days_after=WAIT_MEAN_DAYS,
        wait_gamma_shape=WAIT_SHAPE, appointment_hours=(8, 17),
        measured_by="order time = installation timestamp - wait_seconds")
    access = AccessibilityTruth(
        touchpoint="support_hotline", channel="phone", failing_hours=FAIL_HOURS, opening_hours=OPEN_HOURS,
        failure_rate_in_hours=FAIL_IN, failure_rate_outside=FAIL_OUT, switch_probability=P_SWITCH,
        switch_to=tuple(Share(t, p) for t, p in SWITCH_TO), switch_delay_minutes=(2.0, 30.0),
        retry_delay_minutes=(10.0, 90.0), failed_wait_seconds=(240.0, 900.0))
    failed_def = ("failed support_hotline contacts of the customer before the survey (the survey follows "
                  "the last support contact, or the exit)")
    pp_def = "support cases with billing_dispute -> store_support -> billing_dispute"
    drivers = DriversTruth(
        nps=ScoreModel("nps", None, "after the customer's last support contact (1-30 days) or after the exit",
                       NPS["intercept"], NPS["sd"], 0, 10, NPS["rate"],
                       (Effect("failed_hotline_contacts", NPS["failed"], failed_def),
                        Effect("pingpong_cases", NPS["pingpong"], pp_def))),
        csat=ScoreModel("csat", "installation_visit", "1-5 hours after the installation visit ends",
                        CSAT["intercept"], CSAT["sd"], 1, 5, CSAT["rate"],
                        (Effect("installation_wait_days", CSAT["wait"],
                                "wait_seconds / 86400 of the installation_visit event"),)),
        ces=ScoreModel("ces", "first touchpoint of the support case", "1-4 hours after the case's last contact",
                       CES["intercept"], CES["sd"], 1, 7, CES["rate"],
                       (Effect("failed_hotline_contacts_in_case", CES["failed"], "failed hotline calls in the case"),
                        Effect("pingpong_in_case", CES["pingpong"], "1 if the case had the ping-pong"))),
        churn=ChurnModel("contract_cancel", "support case", CHURN["intercept"],
                         (Effect("failed_hotline_contacts_in_case", CHURN["failed"], "failed hotline calls in the case"),
                          Effect("pingpong_in_case", CHURN["pingpong"], "1 if the case had the ping-pong")),
                         CHURN["delay_days"], CHURN["baseline_per_year"]),
        referral_probability_promoter=P_REFER_PROMOTER, referral_probability_other=P_REFER_OTHER)
    exception = ExceptionTruth("app_login", "app", e_start, e_start + dt.timedelta(days=EXC_DAYS - 1),
                               EXC_BASE, EXC_RATE, EXC_RETRY)
    shares = {"consumer": PTYPE_P[0] + PTYPE_P[1], "small_business": PTYPE_P[2], "enterprise": PTYPE_P[3]}
    value = tuple(ValueSegment(s, float(shares[s]), time_unit="week", **par) for s, par in VALUE.items())
    loops = LoopsTruth(
        hotline_retry_probability_after_failure=round(1 - P_SWITCH, 6), technician_visit_probability=P_TECH,
        technician_revisit_probability=P_REVISIT,
        pingpong_touchpoints=("billing_dispute", "store_support", "billing_dispute"),
        pingpong_departments=("D-BIL", "D-RET"), pingpong_probability=P_PINGPONG,
        activation_failure_rate=P_ACT_FAIL, support_cases_per_year=CASES_PER_YEAR,
        ticket_case_id="<journey case_id>-Snn, nn = the customer's n-th support case in time order",
        support_case_types=(Share("support_hotline", round(CASE_TYPES[0] + CASE_TYPES[1], 6)),
                            Share("web_chat", round(CASE_TYPES[2] / 2, 6)),
                            Share("app_support", round(CASE_TYPES[2] / 2, 6))))
    billing = Billing(BILL_EVERY, tuple(zip(PLAN_NAMES, PLAN_PRICE.tolist())), tuple(ADDON_PRICE.items()),
                      BILL_MARGIN, PURCHASE_MARGIN)
    measured = Measured(goal, tuple(Share(TP_NAMES[i], round(float(c) / max(goal, 1), 6))
                                    for i, c in enumerate(cover)))
    return PlantedTruths(
        seed=cfg.seed, start=cfg.start, end=cfg.start + dt.timedelta(days=cfg.days), regions=REGIONS,
        corridor=corridor, alternatives=(alt,), optional=optional, bottleneck=bottleneck, accessibility=access,
        drivers=drivers, exception=exception, value_segments=value, loops=loops,
        costs=tuple(ChannelCost(c, *COSTS[c]) for c in CHANNELS), billing=billing, counts=counts,
        measured=measured)


# ---- writing ----------------------------------------------------------------------------


def _write_csv(path: Path, table: pa.Table) -> None:
    pacsv.write_csv(table, path)


def generate(out_dir: Path, config: DemoConfig = DemoConfig(),
             progress: Callable[[int, int], None] | None = None) -> DemoFiles:
    """Write the demo company's files into ``out_dir`` and return them with their truths."""
    cfg = config
    if cfg.customers < 1 or cfg.chunk_customers < 1:
        raise InputError(f"The demo needs at least one customer and one customer per chunk; got "
                         f"customers={cfg.customers}, chunk_customers={cfg.chunk_customers}.")
    if cfg.days < 280:
        raise InputError(f"The demo needs a window of at least 280 days to hold its planted truths; "
                         f"got days={cfg.days}.")
    out = Path(out_dir)
    (out / "events").mkdir(parents=True, exist_ok=True)
    (out / "transactions").mkdir(parents=True, exist_ok=True)
    for old in list((out / "events").glob("events-*.parquet")) + list(
            (out / "transactions").glob("transactions-*.parquet")):
        old.unlink()
    departments = out / "departments.csv"
    _write_csv(departments, pa.table({"department_id": [d[0] for d in DEPARTMENTS],
                                      "name": [d[1] for d in DEPARTMENTS],
                                      "parent_id": pa.nulls(len(DEPARTMENTS), pa.string())}))
    touchpoints = out / "touchpoints.csv"
    _write_csv(touchpoints, pa.table({
        "touchpoint": TP_NAMES, "stage": [t[1] for t in TOUCHPOINTS], "channel": [t[2] for t in TOUCHPOINTS],
        "department_id": TP_DEPT, "role": pa.array([t[4] for t in TOUCHPOINTS], pa.string()),
        "description": [t[7] for t in TOUCHPOINTS]}))
    world = _world(cfg)
    chunks = math.ceil(cfg.customers / cfg.chunk_customers)
    customers, feedback = out / "customers.csv", out / "feedback.csv"
    ev_paths, tx_paths = [], []
    n_rows = n_events = n_tx = n_fb = n_comp = goal = 0
    cover = np.zeros(len(TOUCHPOINTS), dtype=np.int64)
    world_rows = _world_rows(cfg, world)
    with pacsv.CSVWriter(customers, CUSTOMER_SCHEMA) as cw, pacsv.CSVWriter(feedback, _FEEDBACK_SCHEMA) as fw:
        cw.write_table(world_rows)
        n_rows += world_rows.num_rows
        for ci in range(chunks):
            lo = ci * cfg.chunk_customers
            n = min(cfg.chunk_customers, cfg.customers - lo)
            c = _chunk(cfg, world, ci, lo, n, n_comp)
            ev_paths.append(out / "events" / f"events-{ci:05d}.parquet")
            tx_paths.append(out / "transactions" / f"transactions-{ci:05d}.parquet")
            pq.write_table(c.events, ev_paths[-1], compression="zstd")
            pq.write_table(c.transactions, tx_paths[-1], compression="zstd")
            cw.write_table(c.customers)
            fw.write_table(c.feedback)
            n_rows += c.customers.num_rows
            n_events += c.events.num_rows
            n_tx += c.transactions.num_rows
            n_fb += c.feedback.num_rows
            n_comp += c.companies
            goal += c.goal
            cover += c.goal_cover
            del c
            if progress is not None:
                progress(ci + 1, chunks)
    counts = Counts(customers_rows=n_rows, persons=cfg.customers, companies=n_comp,
                    intermediaries=world.partners, corporate_groups=world.groups, events=n_events,
                    transactions=n_tx, feedback=n_fb, chunks=chunks)
    truths = _truths(cfg, counts, goal, cover)
    b, e, a = truths.bottleneck, truths.exception, truths.accessibility
    incidents = demo_incidents(b, e, a, cfg.start)
    (out / "truths.json").write_text(json.dumps(truths.to_dict(), indent=2, ensure_ascii=False), "utf-8")
    (out / "incidents.json").write_text(
        json.dumps([i.to_dict() for i in incidents], indent=2, ensure_ascii=False), "utf-8")
    from .demo_model import write_demo_model

    model = write_demo_model(out / "model.toml")
    return DemoFiles(departments, touchpoints, customers, tuple(ev_paths), tuple(tx_paths), feedback,
                     model, incidents, truths)


_FEEDBACK_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("timestamp", pa.timestamp("s")), ("touchpoint", pa.string()),
    ("metric", pa.string()), ("score", pa.int64()), ("text", pa.string()), ("language", pa.string()),
])


# ---- names and phrases (PII is fictional; e-mail domains are reserved example domains) --

GROUP_NAMES = ("ElectroMart Group", "Horizon Holding", "Gulf Star Group", "Ural Invest Group", "Atlas Group",
               "Meridian Holding", "Cedar Capital", "Nordlicht Holding")
PARTNER_NAMES = ("ElectroMart", "PhoneHub", "Connect Point", "Digital Corner", "MobiShop")
_FIRST = {  # (native, latin, female)
    0: (("James", "James", 0), ("Oliver", "Oliver", 0), ("Liam", "Liam", 0), ("Noah", "Noah", 0),
        ("Lucas", "Lucas", 0), ("Ethan", "Ethan", 0), ("Daniel", "Daniel", 0), ("Samuel", "Samuel", 0),
        ("David", "David", 0), ("Thomas", "Thomas", 0), ("Emma", "Emma", 1), ("Sophia", "Sophia", 1),
        ("Mia", "Mia", 1), ("Ava", "Ava", 1), ("Grace", "Grace", 1), ("Chloe", "Chloe", 1),
        ("Hannah", "Hannah", 1), ("Laura", "Laura", 1), ("Sarah", "Sarah", 1), ("Anna", "Anna", 1)),
    1: (("محمد", "Mohammed", 0), ("أحمد", "Ahmed", 0), ("علي", "Ali", 0), ("عمر", "Omar", 0),
        ("يوسف", "Youssef", 0), ("خالد", "Khaled", 0), ("حسن", "Hassan", 0), ("فاطمة", "Fatima", 1),
        ("مريم", "Maryam", 1), ("نور", "Nour", 1), ("سارة", "Sara", 1), ("ليلى", "Layla", 1),
        ("هدى", "Huda", 1), ("ريم", "Reem", 1), ("عائشة", "Aisha", 1)),
    2: (("Александр", "Aleksandr", 0), ("Дмитрий", "Dmitry", 0), ("Иван", "Ivan", 0), ("Сергей", "Sergey", 0),
        ("Михаил", "Mikhail", 0), ("Андрей", "Andrey", 0), ("Николай", "Nikolay", 0), ("Анна", "Anna", 1),
        ("Мария", "Maria", 1), ("Елена", "Elena", 1), ("Ольга", "Olga", 1), ("Наталья", "Natalya", 1),
        ("Татьяна", "Tatyana", 1), ("Ирина", "Irina", 1), ("Екатерина", "Ekaterina", 1)),
}
_LAST = {  # (native, latin); Russian surnames take -а for women
    0: tuple((x, x) for x in ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Clarke",
                              "Walker", "Wright", "Green", "Hall", "Wood", "Turner", "Hughes", "Baker", "Hill",
                              "Moore", "King", "Scott")),
    1: (("الأحمد", "Alahmad"), ("الحسن", "Alhassan"), ("المنصور", "Almansour"), ("الخطيب", "Alkhatib"),
        ("النجار", "Alnajjar"), ("الحداد", "Alhaddad"), ("السيد", "Alsayed"), ("العلي", "Alali"),
        ("الشامي", "Alshami"), ("الزين", "Alzein"), ("القاسم", "Alqasim"), ("الرشيد", "Alrashid")),
    2: (("Иванов", "Ivanov"), ("Смирнов", "Smirnov"), ("Кузнецов", "Kuznetsov"), ("Попов", "Popov"),
        ("Соколов", "Sokolov"), ("Лебедев", "Lebedev"), ("Козлов", "Kozlov"), ("Новиков", "Novikov"),
        ("Морозов", "Morozov"), ("Волков", "Volkov"), ("Петров", "Petrov"), ("Орлов", "Orlov")),
}
_PHONE = ("+44 7700 90", "+971 50 000 ", "+7 900 000 ")
_DOMAINS = ("example.com", "example.org", "example.net")
_COMPANIES = {
    0: tuple(f"{a} {b} Ltd" for a in ("Nile", "Cedar", "Harbor", "Summit", "Falcon", "Oasis", "Northwind",
                                      "Bluebird", "Atlas", "Pioneer")
             for b in ("Logistics", "Systems", "Trading", "Foods", "Clinics", "Design", "Motors", "Consulting")),
    1: tuple(f"شركة {a} {b}" for a in ("النور", "الأمل", "الصقر", "الواحة", "الرياض", "الفجر")
             for b in ("للتجارة", "للخدمات", "للمقاولات", "للتقنية")),
    2: tuple(f"ООО «{a} {b}»" for a in ("Вектор", "Север", "Альфа", "Гранит", "Восход", "Меридиан")
             for b in ("Логистик", "Трейд", "Строй", "Сервис", "Технологии")),
}
# context (0 installation CSAT, 1 support CES, 2 overall NPS) × sentiment (negative, neutral, positive)
_PHRASES = {
    "en": (
        (("The technician came days late.", "Waited far too long for the installation.",
          "Nobody told me when the technician would come."),
         ("Installation was fine, but slow to arrange.", "It works now. The wait was long.",
          "An average installation."),
         ("The technician was quick and friendly.", "Installed on time, everything works.",
          "Great installation, very tidy work.")),
        (("I could not get through to anyone.", "Called several times and was cut off.",
          "Sent from one department to another."),
         ("Solved in the end, but it took effort.", "Had to explain my problem twice.",
          "OK, but the queue was long."),
         ("Solved on the first call.", "The chat agent fixed it in minutes.", "Easy and fast, thank you.")),
        (("I am thinking of switching provider.", "Too many problems and nobody helps.",
          "Poor service for the price."),
         ("The internet is fine, the service could be better.", "Nothing special.",
          "Good speed, average support."),
         ("Fast internet and helpful people.", "I recommend them to my friends.",
          "Reliable connection, happy customer.")),
    ),
    "ar": (
        (("تأخر الفني عدة أيام.", "انتظرت وقتًا طويلًا جدًا للتركيب.", "لم يخبرني أحد متى سيأتي الفني."),
         ("التركيب جيد لكن تحديد الموعد تأخر.", "الخدمة تعمل الآن، لكن الانتظار كان طويلًا.",
          "تجربة تركيب عادية."),
         ("الفني كان سريعًا ولطيفًا.", "تم التركيب في الموعد وكل شيء يعمل.", "تركيب ممتاز وعمل مرتب.")),
        (("لم أستطع الوصول إلى أي موظف.", "اتصلت عدة مرات وانقطع الاتصال.", "حوّلوني من قسم إلى قسم."),
         ("حُلّت المشكلة في النهاية لكن بجهد.", "اضطررت إلى شرح مشكلتي مرتين.", "جيد، لكن الانتظار كان طويلًا."),
         ("حُلّت المشكلة من أول اتصال.", "موظف الدردشة حل المشكلة في دقائق.", "سهل وسريع، شكرًا لكم.")),
        (("أفكر في تغيير مزود الخدمة.", "مشاكل كثيرة ولا أحد يساعد.", "خدمة سيئة مقابل السعر."),
         ("الإنترنت جيد والخدمة يمكن أن تكون أفضل.", "لا شيء مميز.", "سرعة جيدة ودعم متوسط."),
         ("إنترنت سريع وموظفون متعاونون.", "أنصح أصدقائي بهم.", "اتصال موثوق وأنا راضٍ.")),
    ),
    "ru": (
        (("Мастер пришёл на несколько дней позже.", "Слишком долго ждал подключения.",
          "Никто не сказал, когда придёт мастер."),
         ("Подключили нормально, но долго согласовывали время.", "Сейчас всё работает, но ждать пришлось долго.",
          "Обычное подключение."),
         ("Мастер быстрый и вежливый.", "Подключили вовремя, всё работает.", "Отличная установка, всё аккуратно.")),
        (("Не смог ни до кого дозвониться.", "Звонил несколько раз, связь обрывалась.",
          "Отправляли из одного отдела в другой."),
         ("В итоге решили, но пришлось постараться.", "Пришлось дважды объяснять проблему.",
          "Нормально, но очередь была длинной."),
         ("Решили с первого звонка.", "Оператор в чате всё исправил за несколько минут.", "Легко и быстро, спасибо.")),
        (("Думаю сменить провайдера.", "Много проблем, и никто не помогает.", "Плохой сервис за такие деньги."),
         ("Интернет нормальный, сервис мог бы быть лучше.", "Ничего особенного.",
          "Хорошая скорость, поддержка средняя."),
         ("Быстрый интернет и отзывчивые люди.", "Рекомендую друзьям.", "Надёжная связь, я доволен.")),
    ),
}
_PHRASE_ARRAY = pa.array([t for lang in LANGS for ctx in _PHRASES[lang] for sent in ctx for t in sent])
P_TEXT = 0.6


def _pick(rng, groups: dict, key: np.ndarray, field: int) -> tuple[pa.Array, np.ndarray]:
    """For each row, a random entry of ``groups[key]``; returns the chosen field and the
    flat index of the choice."""
    flat = [e for g in sorted(groups) for e in groups[g]]
    sizes = np.array([len(groups[g]) for g in sorted(groups)])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    i = offsets[key] + np.floor(rng.random(len(key)) * sizes[key]).astype(np.int64)
    return pc.take(pa.array([e[field] if isinstance(e, tuple) else e for e in flat]), pa.array(i)), i


def _person_pii(rng, lang: np.ndarray, number: np.ndarray):
    first, fi = _pick(rng, _FIRST, lang, 0)
    first_l = pc.take(pa.array([e[1] for g in sorted(_FIRST) for e in _FIRST[g]]), pa.array(fi))
    female = np.array([e[2] for g in sorted(_FIRST) for e in _FIRST[g]], dtype=bool)[fi]
    last, li = _pick(rng, _LAST, lang, 0)
    last_l = pc.take(pa.array([e[1] for g in sorted(_LAST) for e in _LAST[g]]), pa.array(li))
    ru_f = pa.array(female & (lang == 2))
    last = pc.if_else(ru_f, pc.binary_join_element_wise(last, "а", ""), last)
    last_l = pc.if_else(ru_f, pc.binary_join_element_wise(last_l, "a", ""), last_l)
    name = pc.binary_join_element_wise(first, last, " ")
    domain = pc.take(pa.array(_DOMAINS), pa.array(rng.integers(0, 3, len(lang))))
    email = pc.binary_join_element_wise(pc.utf8_lower(first_l), ".", pc.utf8_lower(last_l),
                                        pa.array(number).cast(pa.string()), "@", domain, "")
    digits = pc.utf8_lpad(pa.array(rng.integers(0, 10_000, len(lang))).cast(pa.string()), 4, "0")
    phone = pc.binary_join_element_wise(pc.take(pa.array(_PHONE), pa.array(lang)), digits, "")
    return name, email, phone


def _company_names(rng, lang: np.ndarray) -> pa.Array:
    return _pick(rng, _COMPANIES, lang, 0)[0]


def _company_emails(number: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("info@", pc.utf8_lower(_ids("K", number, 6)), ".example.com", "")


def _feedback_texts(rng, lang, ctx, metric, score) -> pa.Array:
    """A short phrase in the row's language whose sentiment matches the score."""
    neg_max = np.array([6, 2, 3])[metric]  # nps 0-6, csat 1-2, ces 1-3
    pos_min = np.array([9, 4, 6])[metric]  # nps 9-10, csat 4-5, ces 6-7
    sent = np.where(score <= neg_max, 0, np.where(score >= pos_min, 2, 1))
    i = ((lang * 3 + ctx) * 3 + sent) * 3 + rng.integers(0, 3, len(lang))
    has = rng.random(len(lang)) < P_TEXT
    return pc.if_else(pa.array(has), pc.take(_PHRASE_ARRAY, pa.array(i)), pa.nulls(len(lang), pa.string()))
