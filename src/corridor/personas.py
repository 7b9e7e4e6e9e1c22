"""Personas from data: customers clustered by behaviour and value, each cluster written up
as a persona card.

*Features* (one row per customer with events, :func:`customer_features`, an Ibis
aggregation): contacts and contacts per month since the first contact (at least one
month); the share of contacts in each channel (the event's channel, else its
touchpoint's); support cases (cases with an event at a ``support``-stage touchpoint;
needs the touchpoints table); failed contacts (outcome ``failed``); the mean wait of the
contacts that have one, in hours; stages reached; from transactions spend, margin and
purchases (kind ``purchase``, or every transaction when there is no kind); from feedback
the mean NPS, CSAT and CES score.

*Clustering*: counts, money and waits are put on a log scale (log1p, keeping the sign of
a negative margin) because a few heavy users would otherwise decide the clusters; a
customer without a wait or a score takes the mean of those who have one; every feature
is standardised. The clusters are made on :data:`CLUSTERED` and the channel shares —
activity, channel mix, support, failures, waits, value (margin, or spend when the
transactions carry no margin) and satisfaction, one feature per fact. Contacts, stages
reached, spend and purchases are reported but not clustered on: they repeat what
contacts per month and margin already say (a customer who bought has a margin and has
reached more stages), and a fact counted several times dominates the distances.
k-means (k-means++ starts, ``n_init`` restarts, fixed ``random_state``) is fitted for
every k in ``k_range`` on at most ``fit_sample`` customers, and **k is the one with the
highest mean silhouette** (Rousseeuw, "Silhouettes: a graphical aid to the
interpretation and validation of cluster analysis", 1987) on a fixed random sample of
``sample_size`` customers; every k's silhouette is reported. Personas are numbered from
1 by size, largest first. The same data and ``random_state`` give the same personas.

*A persona card*: size and share; value (mean spend and margin, the persona's share of
all margin, the share of members who bought, and the mean CLV when a CLV table is given,
a member it does not value counting 0); traits (the clustered features that set it
apart: its mean against everyone's, and its centre in standard deviations); typical
corridor (the touchpoints at least ``corridor_coverage`` of its members visit, in the
order they usually first visit them); channels; satisfaction (NPS, CSAT and CES of its
members' feedback, bands in :data:`SCALES`); top pains (:func:`journey_pains`: failures,
long waits and loops a larger share of its members meets than of everyone else);
representative quotes (one feedback text from each of the members nearest the cluster
centre, unchanged and in its own language, until ``quotes`` distinct texts); the segment
mix when a customers table is given; and a short name made by :func:`persona_name` from
templates over the traits, never from the words of the texts.

The group-level summaries (:func:`channel_mix`, :func:`typical_corridor`,
:func:`journey_pains`, :func:`satisfaction_of`) take any grouping of customers (a table of
customer_id and group) and are shared with :mod:`corridor.empathy`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from .customers import require_columns
from .errors import AnalysisError, InputError
from .flow import as_float, as_int, as_text, epoch_millis, from_touchpoints, p90_of, share
from .texts import language_code

DAY_MILLIS = 86_400_000
MONTH_DAYS = 30.4375  # a mean Gregorian month

EVENT_COLUMNS = ("customer_id", "case_id", "touchpoint", "timestamp", "channel", "outcome",
                 "wait_seconds")
FAILED_OUTCOMES = ("failed", "abandoned")

# metric: (lowest, highest, top of the negative band, bottom of the positive band)
# NPS: detractors 0-6, passives 7-8, promoters 9-10; CSAT 1-5: 1-2 unsatisfied, 4-5
# satisfied (top-two-box); CES 1-7 (7 = very easy, CES 2.0): 1-3 difficult, 5-7 easy.
SCALES: dict[str, tuple[int, int, int, int]] = {
    "nps": (0, 10, 6, 9),
    "csat": (1, 5, 2, 4),
    "ces": (1, 7, 3, 5),
}

# The features clustered on; channel shares (``share_<channel>``) are added per channel.
CLUSTERED = ("contacts_per_month", "support_cases", "failed_contacts", "mean_wait_hours",
             "margin", "nps_mean", "csat_mean", "ces_mean")
LOG_SCALED = ("contacts", "contacts_per_month", "support_cases", "failed_contacts",
              "mean_wait_hours", "spend", "margin", "purchases")


# ---- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KScore:
    k: int
    silhouette: float

    def to_dict(self) -> dict:
        return {"k": self.k, "silhouette": self.silhouette}


@dataclass(frozen=True)
class Trait:
    """A feature that sets a persona apart: its mean (in the feature's own unit) against
    everyone's, and ``z``, the persona's centre in standard deviations of the
    log-scaled feature."""

    feature: str
    value: float | None  # None when no member has the feature (no scores, say)
    overall: float | None
    z: float

    def to_dict(self) -> dict:
        return {"feature": self.feature, "value": self.value, "overall": self.overall, "z": self.z}


@dataclass(frozen=True)
class PersonaValue:
    mean_spend: float | None  # None without transactions
    mean_margin: float | None
    margin_share: float | None  # of all customers' margin
    buyer_share: float | None  # members with at least one transaction
    mean_clv: float | None  # None without a CLV table; a member it does not value counts 0

    def to_dict(self) -> dict:
        return {"mean_spend": self.mean_spend, "mean_margin": self.mean_margin,
                "margin_share": self.margin_share, "buyer_share": self.buyer_share,
                "mean_clv": self.mean_clv}


@dataclass(frozen=True)
class CorridorStep:
    touchpoint: str
    coverage: float  # share of the members who visit it
    position: float  # mean rank of its first visit among each member's touchpoints

    def to_dict(self) -> dict:
        return {"touchpoint": self.touchpoint, "coverage": self.coverage, "position": self.position}


@dataclass(frozen=True)
class ChannelShare:
    channel: str
    share: float  # of the members' contacts

    def to_dict(self) -> dict:
        return {"channel": self.channel, "share": self.share}


@dataclass(frozen=True)
class MetricScore:
    metric: str
    responses: int
    mean: float | None
    negative: float | None  # share of responses in the metric's negative band
    positive: float | None

    @property
    def net(self) -> float | None:
        """Positive minus negative share, −1..1 (for NPS: the NPS / 100)."""
        if self.positive is None or self.negative is None:
            return None
        return self.positive - self.negative

    def to_dict(self) -> dict:
        return {"metric": self.metric, "responses": self.responses, "mean": self.mean,
                "negative": self.negative, "positive": self.positive, "net": self.net}


@dataclass(frozen=True)
class Satisfaction:
    nps: MetricScore
    csat: MetricScore
    ces: MetricScore

    @property
    def nps_score(self) -> float | None:
        """% promoters − % detractors, −100..100."""
        return None if self.nps.net is None else 100.0 * self.nps.net

    def to_dict(self) -> dict:
        return {"nps_score": self.nps_score, "nps": self.nps.to_dict(),
                "csat": self.csat.to_dict(), "ces": self.ces.to_dict()}


class PainKind(str, enum.Enum):
    FAILURE = "failure"  # a failed or abandoned contact at the touchpoint
    LONG_WAIT = "long_wait"  # a wait above the touchpoint's 90th percentile
    LOOP = "loop"  # the touchpoint visited twice in one case, where once is usual


@dataclass(frozen=True)
class Pain:
    """How many of a group's customers met a problem at a touchpoint, against the rest:
    as a share of all members (how much of their life it is) and as a rate among those
    who visit the touchpoint (how the touchpoint treats them)."""

    kind: PainKind
    touchpoint: str
    customers: int  # members who met it
    share: float  # of the members
    share_others: float | None  # of the customers outside the group (None: no others)
    customers_others: int  # customers outside the group who met it
    visitors: int  # members who visit the touchpoint
    visitors_others: int

    @property
    def excess(self) -> float:
        return self.share - (self.share_others or 0.0)

    @property
    def lift(self) -> float | None:
        return self.share / self.share_others if self.share_others else None

    @property
    def rate(self) -> float | None:
        return share(self.customers, self.visitors)

    @property
    def rate_others(self) -> float | None:
        return share(self.customers_others, self.visitors_others)

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "touchpoint": self.touchpoint, "customers": self.customers,
                "share": self.share, "share_others": self.share_others, "excess": self.excess,
                "lift": self.lift, "customers_others": self.customers_others,
                "visitors": self.visitors, "visitors_others": self.visitors_others,
                "rate": self.rate, "rate_others": self.rate_others}


@dataclass(frozen=True)
class Quote:
    customer_id: str
    text: str  # exactly as given
    language: str
    metric: str
    score: float

    def to_dict(self) -> dict:
        return {"customer_id": self.customer_id, "text": self.text, "language": self.language,
                "metric": self.metric, "score": self.score}


@dataclass(frozen=True)
class SegmentShare:
    segment: str
    share: float  # of the members
    share_overall: float  # of all customers clustered

    def to_dict(self) -> dict:
        return {"segment": self.segment, "share": self.share, "share_overall": self.share_overall}


@dataclass(frozen=True)
class PersonaCard:
    persona: int  # 1 = the largest
    name: str
    customers: int
    share: float
    traits: tuple[Trait, ...]  # most distinguishing first
    value: PersonaValue
    corridor: tuple[CorridorStep, ...]  # in typical order
    channels: tuple[ChannelShare, ...]  # most used first
    satisfaction: Satisfaction
    pains: tuple[Pain, ...]  # largest excess over the others first
    quotes: tuple[Quote, ...]  # closest to the centre first
    segments: tuple[SegmentShare, ...]  # empty without a customers table

    def to_dict(self) -> dict:
        return {
            "persona": self.persona,
            "name": self.name,
            "customers": self.customers,
            "share": self.share,
            "traits": [t.to_dict() for t in self.traits],
            "value": self.value.to_dict(),
            "corridor": [c.to_dict() for c in self.corridor],
            "channels": [c.to_dict() for c in self.channels],
            "satisfaction": self.satisfaction.to_dict(),
            "pains": [p.to_dict() for p in self.pains],
            "quotes": [q.to_dict() for q in self.quotes],
            "segments": [s.to_dict() for s in self.segments],
        }


@dataclass(frozen=True)
class Personas:
    k: int
    criterion: str  # how k was chosen
    scores: tuple[KScore, ...]  # every k tried
    features: tuple[str, ...]  # clustered on
    customers: int
    cards: tuple[PersonaCard, ...]  # persona 1 first

    def card(self, persona: int) -> PersonaCard:
        for c in self.cards:
            if c.persona == persona:
                return c
        raise InputError(f"There is no persona {persona}; personas are 1 to {self.k}.")

    def to_dict(self) -> dict:
        return {
            "k": self.k,
            "criterion": self.criterion,
            "scores": [s.to_dict() for s in self.scores],
            "features": list(self.features),
            "customers": self.customers,
            "personas": [c.to_dict() for c in self.cards],
        }


# ---- features ----------------------------------------------------------------------------


def _is_whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def channel_feature(channel: str) -> str:
    return "share_" + re.sub(r"\W", "_", channel)


def customer_features(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    transactions: ir.Table | None = None,
    feedback: ir.Table | None = None,
) -> tuple[ir.Table, tuple[str, ...]]:
    """One row per customer with events, and the channels found (see the module
    docstring for each feature). Columns without their source (no transactions, no
    feedback, no touchpoints for stages and support cases) are null."""
    require_columns(events, EVENT_COLUMNS, "events")
    ev = from_touchpoints(events, touchpoints, fill=["channel"], add=["stage"])
    found = ev.select("channel").distinct().to_pyarrow().column("channel").drop_null()
    channels = tuple(sorted(found.to_pylist()))
    names = _feature_names(channels)
    support = ibis.ifelse(ev.stage == "support", ev.case_id, ibis.null("string"))
    staged = {"support_cases": support.nunique(), "stages_reached": ev.stage.nunique()}
    wait_hours = ev.wait_seconds.cast("float64") / 3600.0
    per_customer = ev.group_by(customer_id=ev.customer_id.cast("string")).aggregate(
        contacts=_.count(),
        first_millis=epoch_millis(ev.timestamp.min()),
        failed_contacts=(ev.outcome == "failed").cast("int64").sum(),
        mean_wait_hours=wait_hours.mean(),
        **(staged if touchpoints is not None else {}),
        **{names[c]: (ev.channel == c).cast("int64").sum() for c in channels},
    )
    if touchpoints is None:  # stages unknown: no support cases or stages to count
        per_customer = per_customer.mutate(support_cases=ibis.null("int64"),
                                           stages_reached=ibis.null("int64"))
    end = ev.aggregate(_end=epoch_millis(ev.timestamp.max()))
    per_customer = per_customer.cross_join(end)
    months = ((per_customer._end - per_customer.first_millis).cast("float64")
              / (DAY_MILLIS * MONTH_DAYS))
    months = ibis.greatest(months, 1.0)
    table = per_customer.mutate(
        contacts_per_month=per_customer.contacts.cast("float64") / months,
        **{names[c]: per_customer[names[c]].cast("float64") / per_customer.contacts
           for c in channels},
    ).drop("first_millis", "_end")
    table = _join_money(table, transactions)
    table = _join_scores(table, feedback)
    return table, channels


def _feature_names(channels: Sequence[str]) -> dict[str, str]:
    names, used = {}, set(CLUSTERED) | set(LOG_SCALED) | {"customer_id", "stages_reached"}
    for c in channels:
        name, i = channel_feature(c), 2
        while name in used:
            name, i = f"{channel_feature(c)}_{i}", i + 1
        used.add(name)
        names[c] = name
    return names


def _join_money(table: ir.Table, transactions: ir.Table | None) -> ir.Table:
    if transactions is None:
        return table.mutate(spend=ibis.null("float64"), margin=ibis.null("float64"),
                            purchases=ibis.null("int64"))
    require_columns(transactions, ["customer_id", "amount"], "transactions")
    t = transactions
    known = "margin" in t.columns  # without a margin column margins stay unknown, not 0
    purchases = (t.kind == "purchase").cast("int64").sum() if "kind" in t.columns else _.count()
    money = t.group_by(_tx_customer=t.customer_id.cast("string")).aggregate(
        spend=t.amount.cast("float64").sum(),
        purchases=purchases,
        **({"margin": t.margin.cast("float64").sum()} if known else {}),
    )
    joined = table.left_join(money, table.customer_id == money._tx_customer)
    return joined.mutate(
        spend=joined.spend.fill_null(0.0),
        margin=joined.margin.fill_null(0.0) if known else ibis.null("float64"),
        purchases=joined.purchases.fill_null(0),
    ).drop("_tx_customer")


def _join_scores(table: ir.Table, feedback: ir.Table | None) -> ir.Table:
    metrics = tuple(SCALES)
    if feedback is None:
        return table.mutate(**{f"{m}_mean": ibis.null("float64") for m in metrics})
    require_columns(feedback, ["customer_id", "metric", "score"], "feedback")
    f = feedback
    scores = f.group_by(_fb_customer=f.customer_id.cast("string")).aggregate(
        **{f"{m}_mean": ibis.ifelse(f.metric == m, f.score.cast("float64"),
                                    ibis.null("float64")).mean() for m in metrics}
    )
    joined = table.left_join(scores, table.customer_id == scores._fb_customer)
    return joined.drop("_fb_customer")


def _log_scaled(values: pd.Series) -> pd.Series:
    return np.sign(values) * np.log1p(values.abs())


def _prepared(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Log-scaled where needed and missing values filled with the column mean."""
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        values = frame[c].astype("float64")
        out[c] = _log_scaled(values) if c in LOG_SCALED else values
    return out.fillna(out.mean())


# ---- the model ---------------------------------------------------------------------------


class PersonaModel(BaseEstimator):
    """Customers clustered into personas by behaviour and value (scikit-learn's contract:
    parameters here, data in :meth:`fit`, learned state ending in ``_``).

    After :meth:`fit`: ``customer_ids_`` (sorted), ``labels_`` (persona 1..k of each),
    ``k_``, ``scores_`` (silhouette per k), ``features_`` (the raw features, one row per
    customer), ``feature_names_`` (clustered on), ``center_``/``scale_`` (standardisation),
    ``cluster_centers_`` (standardised, row p − 1 for persona p) and ``personas_`` (the
    cards)."""

    def __init__(
        self,
        k_range: tuple[int, int] = (2, 8),
        *,
        sample_size: int = 2000,
        fit_sample: int = 20_000,
        n_init: int = 4,
        random_state: int = 0,
        n_jobs: int | None = 1,
        quotes: int = 3,
        pains: int = 5,
        traits: int = 4,
        corridor_coverage: float = 0.5,
    ):
        self.k_range = k_range
        self.sample_size = sample_size
        self.fit_sample = fit_sample
        self.n_init = n_init
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.quotes = quotes
        self.pains = pains
        self.traits = traits
        self.corridor_coverage = corridor_coverage

    # -- fitting

    def fit(
        self,
        events: ir.Table,
        *,
        touchpoints: ir.Table | None = None,
        transactions: ir.Table | None = None,
        feedback: ir.Table | None = None,
        customers: ir.Table | None = None,
        clv: ir.Table | None = None,
    ) -> PersonaModel:
        low, high = self._checked_parameters()
        table, channels = customer_features(
            events, touchpoints=touchpoints, transactions=transactions, feedback=feedback
        )
        frame = table.to_pandas().sort_values("customer_id", ignore_index=True)
        if frame.empty:
            raise AnalysisError(
                "There are no events, so there are no customers to make personas of."
            )
        frame = frame.set_index("customer_id")
        names = _feature_names(channels)
        value = "margin" if frame["margin"].notna().any() else "spend"
        candidates = [*(value if c == "margin" else c for c in CLUSTERED),
                      *(names[c] for c in channels)]
        prepared = _prepared(frame, [c for c in candidates if frame[c].notna().any()])
        spread = prepared.std(ddof=0)
        used = [c for c in prepared.columns if spread[c] > 0]
        if not used:
            raise AnalysisError(
                f"The {len(frame)} customers do not differ in any feature, so there are no "
                "personas to find."
            )
        n = len(frame)
        high = min(high, n - 1)
        if high < low:
            raise AnalysisError(
                f"Personas need more customers than personas: {n} customers cannot make "
                f"{low} or more."
            )
        self.center_ = prepared[used].mean()
        self.scale_ = spread[used]
        x = ((prepared[used] - self.center_) / self.scale_).to_numpy()
        # One thread by default: k-means and the silhouette's distances were many times
        # slower with a thread per core on a busy machine.
        with threadpool_limits(limits=self.n_jobs):
            scores, models, predicted = self._search(x, low, high)
        best = max(scores, key=lambda s: (s.silhouette, -s.k))
        model, raw = models[best.k], predicted[best.k]
        # persona 1 is the largest; equal sizes keep k-means' order
        sizes = np.bincount(raw, minlength=best.k)
        order = sorted(range(best.k), key=lambda c: (-sizes[c], c))
        number = {old: new + 1 for new, old in enumerate(order)}
        self.customer_ids_ = frame.index.to_numpy()
        self.labels_ = np.array([number[c] for c in raw], dtype=np.int64)
        self.k_ = best.k
        self.scores_ = tuple(scores)
        self.features_ = frame
        self.feature_names_ = tuple(used)
        self.cluster_centers_ = model.cluster_centers_[order]
        self.personas_ = self._cards(
            x, events, touchpoints=touchpoints, feedback=feedback, customers=customers, clv=clv
        )
        return self

    def _checked_parameters(self) -> tuple[int, int]:
        k = self.k_range
        if (not isinstance(k, (tuple, list)) or len(k) != 2
                or not all(_is_whole(v) for v in k) or not 2 <= k[0] <= k[1]):
            raise InputError(
                "k_range must be two whole numbers (lowest, highest) with 2 <= lowest <= "
                f"highest; got {k!r}."
            )
        if self.n_jobs is not None and not (_is_whole(self.n_jobs) and self.n_jobs >= 1):
            raise InputError(
                f"n_jobs must be a whole number of at least 1, or None; got {self.n_jobs!r}."
            )
        for name, least in (("sample_size", 1), ("fit_sample", 1), ("n_init", 1),
                            ("quotes", 0), ("pains", 0), ("traits", 0)):
            value = getattr(self, name)
            if not (_is_whole(value) and value >= least):
                raise InputError(
                    f"{name} must be a whole number of at least {least}; got {value!r}."
                )
        coverage = self.corridor_coverage
        if not isinstance(coverage, (int, float)) or not 0 < coverage <= 1:
            raise InputError(
                f"corridor_coverage must be a share above 0 and at most 1; got {coverage!r}."
            )
        return int(k[0]), int(k[1])

    def _search(self, x: np.ndarray, low: int, high: int):
        rng = np.random.default_rng(self.random_state)
        n = len(x)
        rows = x
        if n > self.fit_sample:
            rows = x[np.sort(rng.choice(n, self.fit_sample, replace=False))]
        scores, models, predicted = [], {}, {}
        for k in range(low, high + 1):
            model = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
            model.fit(rows)
            labels = model.predict(x)
            if len(np.unique(labels)) < 2:
                continue  # every customer in one cluster: no silhouette
            silhouette = silhouette_score(
                x, labels, sample_size=min(self.sample_size, n), random_state=self.random_state
            )
            scores.append(KScore(k, float(silhouette)))
            models[k], predicted[k] = model, labels
        if not scores:
            raise AnalysisError(
                "The customers fall into a single cluster for every k tried, so there are no "
                "personas."
            )
        return scores, models, predicted

    # -- groups

    def groups(self) -> pd.DataFrame:
        """customer_id and group (the persona's name), for :mod:`corridor.empathy`."""
        names = {c.persona: c.name for c in self.personas_.cards}
        return pd.DataFrame({
            "customer_id": pd.array(self.customer_ids_, dtype="string"),
            "group": pd.array([names[p] for p in self.labels_], dtype="string"),
        })

    # -- cards

    def _cards(self, x, events, *, touchpoints, feedback, customers, clv) -> Personas:
        frame, labels, k = self.features_, self.labels_, self.k_
        groups = group_table(pd.DataFrame({
            "customer_id": pd.array(self.customer_ids_, dtype="string"),
            "group": pd.array([str(p) for p in labels], dtype="string"),
        }))
        mix = channel_mix(events, groups, touchpoints=touchpoints)
        corridors = typical_corridor(events, groups, coverage=self.corridor_coverage)
        pains = journey_pains(events, groups)
        satisfaction = satisfaction_of(feedback, groups) if feedback is not None else {}
        segments = _segment_mix(customers, groups, len(frame)) if customers is not None else {}
        clv_values = _clv_values(clv, frame.index) if clv is not None else None
        quotes = {}
        if feedback is not None and self.quotes:
            quotes = _closest_quotes(feedback, x, labels, self.cluster_centers_,
                                     self.customer_ids_, self.quotes)
        traits = self._traits(frame, labels)
        cards = []
        for p in range(1, k + 1):
            members = labels == p
            size = int(members.sum())
            own_pains = sorted(
                (pain for pain in pains.get(str(p), ()) if pain.excess > 0),
                key=lambda pain: (-pain.excess, pain.kind.value, pain.touchpoint),
            )
            cards.append(PersonaCard(
                persona=p,
                name="",
                customers=size,
                share=size / len(frame),
                traits=traits[p][: self.traits],
                value=_value(frame, members, clv_values),
                corridor=corridors.get(str(p), ()),
                channels=mix.get(str(p), ()),
                satisfaction=satisfaction.get(str(p), empty_satisfaction()),
                pains=tuple(own_pains[: self.pains]),
                quotes=quotes.get(p, ()),
                segments=segments.get(str(p), ()),
            ))
        names = _unique_names([persona_name(card, traits[card.persona]) for card in cards])
        return Personas(
            k=k,
            criterion="silhouette",
            scores=self.scores_,
            features=self.feature_names_,
            customers=len(frame),
            cards=tuple(replace(card, name=name) for card, name in zip(cards, names)),
        )

    def _traits(self, frame: pd.DataFrame, labels: np.ndarray) -> dict[int, tuple[Trait, ...]]:
        """Per persona, every clustered feature, farthest from everyone's first."""
        out = {}
        for p in range(1, self.k_ + 1):
            centre = self.cluster_centers_[p - 1]
            members = labels == p
            found = []
            for i, feature in enumerate(self.feature_names_):
                raw = frame[feature].astype("float64")
                found.append(Trait(feature, as_float(raw[members].mean()), as_float(raw.mean()),
                                   float(centre[i])))
            found.sort(key=lambda t: (-abs(t.z), t.feature))
            out[p] = tuple(found)
        return out


def _value(frame: pd.DataFrame, members: np.ndarray, clv: np.ndarray | None) -> PersonaValue:
    mean_clv = None if clv is None else float(clv[members].mean())
    if frame["spend"].isna().all():  # no transactions given
        return PersonaValue(None, None, None, None, mean_clv)
    part = frame[members]
    total = float(frame["margin"].sum())
    bought = (part["spend"] != 0) | (part["purchases"] > 0)
    return PersonaValue(
        mean_spend=float(part["spend"].mean()),
        mean_margin=as_float(part["margin"].mean()),
        margin_share=float(part["margin"].sum()) / total if total else None,
        buyer_share=float(bought.mean()),
        mean_clv=mean_clv,
    )


def personas(
    events: ir.Table,
    *,
    touchpoints: ir.Table | None = None,
    transactions: ir.Table | None = None,
    feedback: ir.Table | None = None,
    customers: ir.Table | None = None,
    clv: ir.Table | None = None,
    k_range: tuple[int, int] = (2, 8),
    random_state: int = 0,
) -> Personas:
    """The persona cards of :class:`PersonaModel` with its default settings."""
    model = PersonaModel(k_range, random_state=random_state).fit(
        events, touchpoints=touchpoints, transactions=transactions, feedback=feedback,
        customers=customers, clv=clv,
    )
    return model.personas_


# ---- group-level summaries (any grouping of customers) ------------------------------------


def group_table(groups: pd.DataFrame | Mapping[str, str] | ir.Table) -> ir.Table:
    """customer_id → group as an Ibis table (strings), from a frame with those columns, a
    mapping, or a table."""
    if isinstance(groups, ir.Table):
        require_columns(groups, ["customer_id", "group"], "groups")
        return groups.select(customer_id=groups.customer_id.cast("string"),
                             group=groups.group.cast("string"))
    return ibis.memtable(group_frame(groups))


def group_frame(groups: pd.DataFrame | Mapping[str, str]) -> pd.DataFrame:
    """customer_id → group as a frame of strings, one row per customer (the first)."""
    if isinstance(groups, Mapping):
        groups = pd.DataFrame({"customer_id": list(groups), "group": list(groups.values())})
    if not isinstance(groups, pd.DataFrame) or not {"customer_id", "group"} <= set(groups.columns):
        raise InputError(
            "Groups must be a table or frame with the columns customer_id and group, or a mapping "
            f"of customer_id to group; got {type(groups).__name__}."
        )
    frame = groups[["customer_id", "group"]].dropna().astype("string")
    return frame.drop_duplicates("customer_id").reset_index(drop=True)


def channel_mix(
    events: ir.Table, groups: ir.Table, *, touchpoints: ir.Table | None = None
) -> dict[str, tuple[ChannelShare, ...]]:
    """Per group, each channel's share of the members' contacts, most used first."""
    ev = from_touchpoints(events, touchpoints, fill=["channel"])
    ev = ev.select(customer_id=ev.customer_id.cast("string"), channel=ev.channel)
    joined = ev.join(groups, "customer_id")
    rows = joined.group_by(["group", "channel"]).aggregate(contacts=_.count()).to_pandas()
    out: dict[str, tuple[ChannelShare, ...]] = {}
    for group, part in rows.groupby("group", sort=True):
        total = int(part["contacts"].sum())
        shares = [ChannelShare(as_text(r.channel) or "(none)", int(r.contacts) / total)
                  for r in part.itertuples()]
        out[str(group)] = tuple(sorted(shares, key=lambda c: (-c.share, c.channel)))
    return out


def typical_corridor(
    events: ir.Table, groups: ir.Table, *, coverage: float = 0.5
) -> dict[str, tuple[CorridorStep, ...]]:
    """Per group, the touchpoints visited by at least ``coverage`` of its members (at
    least the most visited one), in the order members usually first visit them (mean
    rank of the first visit among the member's touchpoints)."""
    ev = events.select(customer_id=events.customer_id.cast("string"), touchpoint=events.touchpoint,
                       millis=epoch_millis(events.timestamp))
    firsts = ev.group_by(["customer_id", "touchpoint"]).aggregate(first=ev.millis.min())
    w = ibis.window(group_by=firsts.customer_id, order_by=[firsts.first, firsts.touchpoint])
    ranked = firsts.mutate(rank=ibis.row_number().over(w) + 1).join(groups, "customer_id")
    per_touchpoint = ranked.group_by(["group", "touchpoint"]).aggregate(
        customers=_.count(), position=ranked["rank"].cast("float64").mean()
    )
    rows = _with_group_sizes(per_touchpoint, ranked, position=ibis.null("float64")).to_pandas()
    size, rows = _split_sizes(rows, "customers")
    out: dict[str, tuple[CorridorStep, ...]] = {}
    for group, part in rows.groupby("group", sort=True):
        n = size[str(group)]
        steps = [CorridorStep(str(r.touchpoint), int(r.customers) / n, float(r.position))
                 for r in part.itertuples()]
        kept = [s for s in steps if s.coverage >= coverage]
        if not kept:
            kept = [min(steps, key=lambda s: (-s.coverage, s.touchpoint))]
        out[str(group)] = tuple(sorted(kept, key=lambda s: (s.position, s.touchpoint)))
    return out


def _with_group_sizes(per_touchpoint: ir.Table, rows: ir.Table, **fill) -> ir.Table:
    """``per_touchpoint`` (group, touchpoint, customers, …) with one more row per group:
    touchpoint null and customers = the group's members in ``rows``; the other columns
    take ``fill``. One query instead of two (each costs seconds on Spark)."""
    sizes = rows.group_by("group").aggregate(
        touchpoint=ibis.null("string"), customers=rows.customer_id.nunique(), **fill
    )
    columns = per_touchpoint.columns
    typed = {c: per_touchpoint[c].type() for c in columns}
    return ibis.union(
        per_touchpoint.select(*(per_touchpoint[c].cast(typed[c]).name(c) for c in columns)),
        sizes.select(*(sizes[c].cast(typed[c]).name(c) for c in columns)),
    )


def _split_sizes(rows: pd.DataFrame, column: str) -> tuple[dict[str, int], pd.DataFrame]:
    """The group sizes added by :func:`_with_group_sizes`, and the other rows."""
    total = rows["touchpoint"].isna()
    sizes = rows[total]
    return (dict(zip(sizes["group"].astype(str), sizes[column].astype(int))),
            rows[~total].reset_index(drop=True))


def journey_pains(events: ir.Table, groups: ir.Table) -> dict[str, tuple[Pain, ...]]:
    """Per group, every (kind, touchpoint) problem met by its members or by the others:
    a failed or abandoned contact; a wait longer than the touchpoint's 90th percentile
    over all events; a loop, where a case visits a touchpoint twice or more although
    cases usually visit it once (median visits per visiting case of 1: routine repeats
    such as logging in again are not loops). ``excess`` > 0 (a larger share of the
    members meets it than of the others) marks a pain."""
    ev = events.select(
        customer_id=events.customer_id.cast("string"), case_id=events.case_id,
        touchpoint=events.touchpoint, outcome=events.outcome,
        wait=events.wait_seconds.cast("float64"),
    )
    waits = ev.filter(ev.wait.notnull())
    limits = waits.group_by("touchpoint").aggregate(_p90=p90_of(waits.wait))
    ev = ev.left_join(limits, "touchpoint").drop("touchpoint_right")
    per_case = ev.group_by(["customer_id", "case_id", "touchpoint"]).aggregate(
        visits=_.count(),
        failed=ev.outcome.isin(FAILED_OUTCOMES).cast("int64").max(),
        long_wait=(ev.wait > ev._p90).fill_null(False).cast("int64").max(),
    )
    usual = per_case.group_by("touchpoint").aggregate(_usual=per_case.visits.quantile(0.5))
    per_case = per_case.left_join(usual, "touchpoint").drop("touchpoint_right")
    is_loop = (per_case.visits >= 2) & (per_case._usual <= 1)
    per_customer = per_case.group_by(["customer_id", "touchpoint"]).aggregate(
        failed=per_case.failed.max(),
        long_wait=per_case.long_wait.max(),
        loop=is_loop.cast("int64").max(),
    )
    joined = per_customer.join(groups, "customer_id")
    per_touchpoint = joined.group_by(["group", "touchpoint"]).aggregate(
        customers=_.count(), failed=joined.failed.sum(), long_wait=joined.long_wait.sum(),
        loop=joined.loop.sum(),
    )
    zero = ibis.literal(0, "int64")
    rows = _with_group_sizes(per_touchpoint, joined, failed=zero, long_wait=zero, loop=zero)
    size, rows = _split_sizes(rows.to_pandas(), "customers")
    rows = rows.rename(columns={"customers": "visitors"})
    everyone = sum(size.values())
    totals = rows.groupby("touchpoint")[["visitors", "failed", "long_wait", "loop"]].sum()
    kinds = {"failed": PainKind.FAILURE, "long_wait": PainKind.LONG_WAIT, "loop": PainKind.LOOP}
    out: dict[str, list[Pain]] = {}
    for r in rows.itertuples():
        group = str(r.group)
        n, others = size[group], everyone - size[group]
        for column, kind in kinds.items():
            hit, total = as_int(getattr(r, column)), as_int(totals.loc[r.touchpoint, column])
            if total == 0:
                continue
            visitors = as_int(r.visitors)
            out.setdefault(group, []).append(Pain(
                kind, str(r.touchpoint), hit, hit / n, share(total - hit, others), total - hit,
                visitors, as_int(totals.loc[r.touchpoint, "visitors"]) - visitors,
            ))
    return {g: tuple(sorted(p, key=lambda x: (-x.excess, x.kind.value, x.touchpoint)))
            for g, p in sorted(out.items())}


def empty_satisfaction() -> Satisfaction:
    return Satisfaction(*(MetricScore(m, 0, None, None, None) for m in SCALES))


def satisfaction_of(feedback: ir.Table, groups: ir.Table) -> dict[str, Satisfaction]:
    """Per group, NPS, CSAT and CES of its members' feedback: responses, mean, and the
    shares in the negative and positive bands of :data:`SCALES`."""
    require_columns(feedback, ["customer_id", "metric", "score"], "feedback")
    f = feedback.select(customer_id=feedback.customer_id.cast("string"), metric=feedback.metric,
                        score=feedback.score.cast("float64"))
    f = f.join(groups, "customer_id")
    negative = ibis.cases(*((f.metric == m, f.score <= s[2]) for m, s in SCALES.items()),
                          else_=ibis.literal(False))
    positive = ibis.cases(*((f.metric == m, f.score >= s[3]) for m, s in SCALES.items()),
                          else_=ibis.literal(False))
    rows = f.filter(f.metric.isin(list(SCALES))).group_by(["group", "metric"]).aggregate(
        responses=_.count(), mean=f.score.mean(),
        negative=negative.cast("int64").sum(), positive=positive.cast("int64").sum(),
    ).to_pandas()
    found: dict[str, dict[str, MetricScore]] = {}
    for r in rows.itertuples():
        n = int(r.responses)
        found.setdefault(str(r.group), {})[str(r.metric)] = MetricScore(
            str(r.metric), n, as_float(r.mean), int(r.negative) / n, int(r.positive) / n
        )
    return {
        g: Satisfaction(*(scores.get(m, MetricScore(m, 0, None, None, None)) for m in SCALES))
        for g, scores in sorted(found.items())
    }


def _segment_mix(
    customers: ir.Table, groups: ir.Table, everyone: int
) -> dict[str, tuple[SegmentShare, ...]]:
    require_columns(customers, ["customer_id", "segment"], "customers")
    c = customers.select(customer_id=customers.customer_id.cast("string"),
                         segment=customers.segment.cast("string"))
    c = c.group_by("customer_id").aggregate(segment=c.segment.min())
    joined = groups.left_join(c, "customer_id")
    rows = joined.group_by(["group", "segment"]).aggregate(n=_.count()).to_pandas()
    rows["segment"] = rows["segment"].astype("object").where(rows["segment"].notna(), "(none)")
    overall = rows.groupby("segment")["n"].sum()
    out = {}
    for group, part in rows.groupby("group", sort=True):
        total = int(part["n"].sum())
        shares = [SegmentShare(str(r.segment), int(r.n) / total, int(overall[r.segment]) / everyone)
                  for r in part.itertuples()]
        out[str(group)] = tuple(sorted(shares, key=lambda s: (-s.share, s.segment)))
    return out


def _clv_values(clv: ir.Table, ids: pd.Index) -> np.ndarray:
    """Each customer's CLV; 0 for a customer the CLV table does not value (it values
    those who bought)."""
    require_columns(clv, ["customer_id", "clv"], "CLV")
    frame = clv.select(customer_id=clv.customer_id.cast("string"),
                       clv=clv.clv.cast("float64")).to_pandas()
    values = frame.groupby("customer_id")["clv"].sum()
    return values.reindex(ids).fillna(0.0).to_numpy(dtype="float64")


def _closest_quotes(feedback, x, labels, centers, ids, wanted) -> dict[int, tuple[Quote, ...]]:
    """Per persona, up to ``wanted`` distinct texts of the members nearest its centre
    (a member's texts newest first)."""
    if "text" not in feedback.columns:
        return {}
    f = feedback.filter(feedback.text.notnull() & (feedback.text.length() > 0))
    language = f.language.cast("string") if "language" in f.columns else ibis.null("string")
    texts = f.select(
        customer_id=f.customer_id.cast("string"), timestamp=f.timestamp, metric=f.metric,
        score=f.score.cast("float64"), text=f.text.cast("string"), language=language,
    ).to_pandas()
    if texts.empty:
        return {}
    texts = texts.sort_values(["customer_id", "timestamp", "metric"], ascending=[True, False, True])
    by_customer = {c: part for c, part in texts.groupby("customer_id", sort=False)}
    distance = np.sqrt(((x - centers[labels - 1]) ** 2).sum(axis=1))
    out = {}
    for p in range(1, len(centers) + 1):
        members = np.flatnonzero(labels == p)
        nearest = members[np.lexsort((ids[members], distance[members]))]
        chosen, seen = [], set()
        for i in nearest:
            part = by_customer.get(ids[i])
            if part is None:
                continue
            for r in part.itertuples():
                if r.text in seen:
                    continue
                seen.add(r.text)
                chosen.append(Quote(str(r.customer_id), r.text, language_code(r.language),
                                    str(r.metric), float(r.score)))
                break  # one quote per member
            if len(chosen) >= wanted:
                break
        out[p] = tuple(chosen)
    return out


# ---- names -------------------------------------------------------------------------------

# Words for channels often met; any other channel is "<channel>-first".
CHANNEL_WORDS = {
    "app": "app-first", "web": "online", "online": "online", "email": "e-mail",
    "e-mail": "e-mail", "phone": "phone", "call": "phone", "store": "in-store",
    "shop": "in-store", "branch": "in-branch", "partner": "partner-served",
    "field": "on-site", "chat": "chat", "social": "social-media", "mail": "by-post",
}
DIGITAL_CHANNELS = frozenset({"app", "web", "online", "email", "e-mail", "chat", "mobile"})
STRONG = 0.5  # |z| from which a trait shapes the name


def persona_name(card: PersonaCard, traits: Sequence[Trait]) -> str:
    """A short name from templates over the persona's traits: at most two words (value,
    support or activity, channel: the two strongest, in that order), a noun (browsers
    who have not bought, digital self-servers, the persona's dominant segment, or
    customers) and at most one problem (long waits, failed contacts, less satisfied)."""
    z = {t.feature: t.z for t in traits}
    strong = [t for t in traits if abs(t.z) >= STRONG]
    channels = [t for t in strong if t.feature.startswith("share_") and t.z > 0]
    channel = channels[0] if channels else None
    channel_name = channel.feature[len("share_"):] if channel else None
    browsers = card.value.buyer_share is not None and card.value.buyer_share < 0.1
    if browsers:
        noun = "browsers who have not bought"
    elif channel_name in DIGITAL_CHANNELS and z.get("support_cases", 0.0) <= 0:
        noun, channel = "digital self-servers", None
    else:
        noun = "customers"
        top = card.segments[0] if card.segments else None
        if (top is not None and top.segment != "(none)" and top.share >= 0.5
                and top.share >= 1.5 * top.share_overall):
            noun = f"{top.segment.replace('_', ' ')} customers"
    words: list[tuple[int, float, str]] = []  # (slot, strength, word)
    margin = z.get("margin", z.get("spend", 0.0))
    if abs(margin) >= STRONG and not browsers:
        words.append((0, abs(margin), "high-value" if margin > 0 else "low-value"))
    support, activity = z.get("support_cases", 0.0), z.get("contacts_per_month", 0.0)
    if support >= STRONG:
        words.append((1, support, "high-support"))
    elif activity >= STRONG:
        words.append((1, activity, "frequent"))
    elif activity <= -STRONG and not browsers:
        words.append((1, -activity, "occasional"))
    if channel is not None:
        word = CHANNEL_WORDS.get(channel_name, f"{channel_name.replace('_', ' ')}-first")
        words.append((2, channel.z, word))
    chosen = sorted(sorted(words, key=lambda w: -w[1])[:2])
    tail = ""
    for t in strong:
        if t.feature == "mean_wait_hours" and t.z > 0:
            tail = " with long waits"
        elif t.feature == "failed_contacts" and t.z > 0:
            tail = " with failed contacts"
        elif t.feature in ("nps_mean", "csat_mean", "ces_mean") and t.z < 0:
            tail = " who are less satisfied"
        if tail:
            break
    name = " ".join([*(w for _, _, w in chosen), noun]) + tail
    return name[0].upper() + name[1:]


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out



