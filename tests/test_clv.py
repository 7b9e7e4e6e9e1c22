"""Lifetime value: purchase-history conventions on every engine, parameter recovery on
data simulated from known parameters, agreement with lifetimes (the reference
implementation) and the error sentences."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from corridor import clv
from corridor.errors import AnalysisError, InputError

# The summary's core tests run on every engine; the rest on DuckDB or in numpy alone.
duckdb_only = pytest.mark.parametrize("engine", ["duckdb"], indirect=True)

# -- simulation from known parameters ---------------------------------------------------


def simulate_histories(n, r, alpha, a, b, *, seed, max_age=52.0, days_per_unit=None):
    """(frequency, recency, T) of ``n`` BG/NBD customers observed for T ~ U(1, max_age)
    units. Purchases come at rate λ ~ Gamma(r, alpha) until the customer drops out
    after a repeat purchase with probability p ~ Beta(a, b). With ``days_per_unit`` the
    times are on a day grid, as summaries of calendar days are."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    T = rng.uniform(1.0, max_age, n)
    if days_per_unit:
        T = np.ceil(T * days_per_unit) / days_per_unit
    purchases_if_staying = rng.poisson(rate * T)
    purchases_until_dropout = rng.geometric(dropout)  # counts the one after which p hit
    frequency = np.minimum(purchases_if_staying, purchases_until_dropout)
    # the x-th of N uniform times on (0, T) is T times a Beta(x, N - x + 1) variable
    last = rng.beta(np.maximum(frequency, 1), np.maximum(purchases_if_staying - frequency + 1, 1))
    recency = np.where(frequency > 0, T * last, 0.0)
    if days_per_unit:
        recency = np.floor(recency * days_per_unit) / days_per_unit
    return frequency, recency, T


def simulate_spend(frequency, p, q, v, *, seed):
    """Mean repeat spend of each customer: amounts ~ Gamma(p, ν), ν ~ Gamma(q, v); the
    mean of x amounts is Gamma(p·x, ν·x). NaN without repeats."""
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1.0 / v, frequency.size)
    x = np.maximum(frequency, 1)
    mean = rng.gamma(p * x, 1.0 / (nu * x))
    return np.where(frequency > 0, mean, np.nan)


def simulate_transactions(customers, *, seed, r=0.8, alpha=6.0, a=0.7, b=3.0,
                          p=4.0, q=4.0, v=90.0):
    """Dated purchases of BG/NBD customers (weekly rates) who make their first purchase
    during 2024 and are observed until the end of June 2025."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    end_days = 547.0  # 2025-07-01 00:00
    first = rng.uniform(0, 366, customers)
    rate = rng.gamma(r, 1.0 / alpha, customers) / 7.0  # per day
    dropout = rng.beta(a, b, customers)
    nu = rng.gamma(q, 1.0 / v, customers)
    possible = rng.poisson(rate * (end_days - first))
    kept = np.minimum(possible, rng.geometric(dropout))
    owner = np.repeat(np.arange(customers), possible)
    times = first[owner] + rng.uniform(0, 1, owner.size) * (end_days - first[owner])
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    nth = np.arange(owner.size) - np.repeat(np.cumsum(possible) - possible, possible)
    keep = nth < kept[owner]
    owner = np.concatenate([np.arange(customers), owner[keep]])
    times = np.concatenate([first, times[keep]])
    amounts = np.round(rng.gamma(p, 1.0 / nu[owner]), 2) + 0.01
    return pd.DataFrame({
        "customer_id": pd.array([f"C{i:05d}" for i in owner], dtype="string"),
        "timestamp": start + pd.to_timedelta(np.floor(times * 86_400), unit="s"),
        "amount": amounts,
        "margin": np.round(amounts * 0.3, 2),
    })


def params_of(fit) -> np.ndarray:
    return np.array(list(fit.params.to_dict().values()))


def errors_of(fit) -> np.ndarray:
    return np.array(list(fit.standard_errors.to_dict().values()))


# -- purchase histories ------------------------------------------------------------------

SHOP = pd.DataFrame({
    "customer_id": ["a", "a", "a", "a", "b", "c", "c", "d", "e"],
    "timestamp": pd.to_datetime([
        "2024-01-01 09:00", "2024-01-01 18:00",  # a: two purchases on one day
        "2024-01-08 10:00", "2024-01-20 10:00",
        "2024-01-05 00:00",  # b: a single purchase
        "2024-01-03 12:00", "2024-01-10 23:59",  # c: repeat on the cut-off day itself
        "2024-01-16 08:00",  # d: first buys after the cut-off
        "2024-01-12 07:00",  # e: first buys after the cut-off too
    ]),
    "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0, 9.0, 1.0, 2.0],
    "margin": [1.0, 0.5, 2.0, 4.0, 0.7, 0.3, 0.9, 0.1, 0.2],
})


def summary_rows(table) -> dict:
    frame = table.to_pandas().sort_values("customer_id")
    return {row.customer_id: row for row in frame.itertuples(index=False)}


def test_summary_counts_repeat_days_from_the_first_purchase(put):
    rows = summary_rows(clv.rfm_summary(put(SHOP), unit_days=1.0))
    assert sorted(rows) == ["a", "b", "c", "d", "e"]
    a, b, c, d = rows["a"], rows["b"], rows["c"], rows["d"]
    # a: the two purchases of 1 January are one transaction (10 + 5); repeats on 8 and 20
    assert (a.frequency, a.recency, a.T, a.monetary_value) == (2, 19.0, 19.0, 30.0)
    assert pd.Timestamp(a.first_purchase).date() == dt.date(2024, 1, 1)
    # the clock starts at each customer's first purchase; T runs to the last day in data
    assert (b.frequency, b.recency, b.T) == (0, 0.0, 15.0)
    assert pd.isna(b.monetary_value)
    assert (c.frequency, c.recency, c.T, c.monetary_value) == (1, 7.0, 17.0, 9.0)
    assert (d.frequency, d.T) == (0, 4.0)
    assert a.margin_share == pytest.approx(0.1)


def test_until_cuts_the_calibration_and_holdout_counts_what_came_after(put):
    shop = put(SHOP)
    rows = summary_rows(clv.rfm_summary(shop, until="2024-01-10", unit_days=7.0))
    assert sorted(rows) == ["a", "b", "c"]  # d and e first bought after the cut-off
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert (a.frequency, a.recency, a.monetary_value) == (1, 1.0, 20.0)
    assert a.T == pytest.approx(9 / 7)
    assert (b.frequency, b.T) == (0, pytest.approx(5 / 7))
    assert (c.frequency, c.recency, c.T) == (1, 1.0, 1.0)  # the cut-off day is included

    held = summary_rows(clv.holdout_summary(shop, until=dt.date(2024, 1, 10), unit_days=1.0))
    assert sorted(held) == ["a", "b", "c"]
    assert (held["a"].holdout_frequency, held["a"].holdout_amount) == (1, 40.0)
    assert (held["b"].holdout_frequency, held["c"].holdout_frequency) == (0, 0)
    assert {r.holdout_length for r in held.values()} == {10.0}


@duckdb_only
def test_observation_end_closes_the_holdout_or_the_calibration(put):
    shop = put(SHOP)
    shorter = summary_rows(clv.holdout_summary(
        shop, until="2024-01-10", observation_end="2024-01-16", unit_days=1.0))
    assert shorter["a"].holdout_frequency == 0  # its next purchase is on 20 January
    assert shorter["a"].holdout_length == 6.0
    # without until, observation_end ends the calibration period itself
    rows = summary_rows(clv.rfm_summary(shop, observation_end="2024-01-16", unit_days=1.0))
    assert (rows["a"].frequency, rows["a"].recency, rows["a"].T) == (1, 7.0, 15.0)
    assert rows["d"].T == 0.0  # first bought on the last day


@duckdb_only
def test_summary_matches_lifetimes_on_random_purchases(put):
    utils = pytest.importorskip("lifetimes.utils")
    frame = simulate_transactions(400, seed=11)
    ours = clv.rfm_summary(put(frame), until="2024-12-31", observation_end="2025-06-30",
                           unit_days=1.0).to_pandas().set_index("customer_id").sort_index()
    held = clv.holdout_summary(put(frame), until="2024-12-31", observation_end="2025-06-30",
                               unit_days=1.0).to_pandas().set_index("customer_id").sort_index()
    # lifetimes compares timestamps with its cut-offs; ours are whole days, inclusive
    reference = utils.calibration_and_holdout_data(
        frame.astype({"customer_id": object}), "customer_id", "timestamp",
        calibration_period_end=pd.Timestamp("2024-12-31 23:59:59.999999"),
        observation_period_end=pd.Timestamp("2025-06-30 23:59:59.999999"),
        freq="D", monetary_value_col="amount",
    ).sort_index()
    assert list(ours.index) == list(reference.index)
    assert ours.frequency.tolist() == reference.frequency_cal.astype(int).tolist()
    np.testing.assert_allclose(ours.recency, reference.recency_cal)
    np.testing.assert_allclose(ours["T"], reference.T_cal)
    np.testing.assert_allclose(ours.monetary_value.fillna(0.0), reference.monetary_value_cal)
    assert held.holdout_frequency.tolist() == reference.frequency_holdout.astype(int).tolist()
    np.testing.assert_allclose(held.holdout_length, reference.duration_holdout)


@duckdb_only
def test_summary_errors_are_sentences(put):
    shop = put(SHOP)
    with pytest.raises(InputError, match="no column 'amount'"):
        clv.rfm_summary(shop.drop("amount"))
    with pytest.raises(InputError, match="must be a date like 2024-06-30"):
        clv.rfm_summary(shop, until="the end of June")
    with pytest.raises(InputError, match="before until"):
        clv.rfm_summary(shop, until="2024-01-10", observation_end="2024-01-05")
    with pytest.raises(InputError, match="unit_days must be a positive"):
        clv.rfm_summary(shop, unit_days=0)
    with pytest.raises(InputError, match="needs `until`"):
        clv.holdout_summary(shop, until=None)


# -- BG/NBD ---------------------------------------------------------------------------------

TRUE_BGNBD = dict(r=0.6, alpha=8.0, a=0.8, b=3.0)


def test_bgnbd_recovers_the_parameters_it_was_simulated_from():
    frequency, recency, T = simulate_histories(40_000, **TRUE_BGNBD, seed=3)
    fit = clv.fit_bgnbd(frequency, recency, T)
    assert fit.converged and fit.customers == 40_000
    z = (params_of(fit) - np.array(list(TRUE_BGNBD.values()))) / errors_of(fit)
    assert np.all(np.abs(z) < 3), dict(zip(TRUE_BGNBD, z))
    assert np.all(errors_of(fit) < 0.15 * params_of(fit))


def test_grouping_histories_does_not_change_the_fit():
    frequency, recency, T = simulate_histories(5_000, **TRUE_BGNBD, seed=4, days_per_unit=7)
    grouped = clv.fit_bgnbd(frequency, recency, T)
    assert grouped.distinct_histories < 5_000
    frame = pd.DataFrame({"x": frequency, "t_x": recency, "T": T})
    counts = frame.value_counts().reset_index()
    weighted = clv.fit_bgnbd(counts.x, counts.t_x, counts["T"], weights=counts["count"])
    np.testing.assert_allclose(params_of(weighted), params_of(grouped), rtol=1e-6)
    assert weighted.log_likelihood == pytest.approx(grouped.log_likelihood, rel=1e-10)
    assert weighted.customers == grouped.customers == 5_000


def test_bgnbd_predictions_behave():
    frequency, recency, T = simulate_histories(10_000, **TRUE_BGNBD, seed=5)
    fit = clv.fit_bgnbd(frequency, recency, T)
    # no repeats: certainly alive; a long silence after many purchases: probably gone
    assert fit.probability_alive(0, 0.0, 30.0) == 1.0
    assert fit.probability_alive(10, 5.0, 50.0) < 0.05 < fit.probability_alive(10, 49.0, 50.0)
    ahead = fit.expected_purchases(np.array([4.0, 13.0, 52.0]), 3, 20.0, 30.0)
    assert np.all(np.diff(ahead) > 0)
    new = fit.expected_purchases_new_customer(np.array([0.0, 52.0]))
    assert new[0] == pytest.approx(0.0, abs=1e-12) and new[1] > 0
    # a customer observed for no time at all is a new customer
    assert fit.expected_purchases(52.0, 0, 0.0, 0.0) == pytest.approx(new[1], rel=1e-9)


@duckdb_only
def test_forecast_against_holdout_on_dated_purchases(put):
    frame = simulate_transactions(3_000, seed=12)
    table = put(frame)
    calibration = clv.rfm_summary(table, until="2024-12-31", unit_days=7.0).to_pandas()
    holdout = clv.holdout_summary(table, until="2024-12-31", unit_days=7.0).to_pandas()
    both = calibration.merge(holdout, on="customer_id")
    assert len(both) == len(calibration) == len(holdout)
    fit = clv.fit_bgnbd(both.frequency, both.recency, both["T"], unit_days=7.0)
    check = clv.compare_holdout(fit, both.frequency, both.recency, both["T"],
                                both.holdout_frequency, both.holdout_length)
    assert check.customers == len(both)
    assert check.predicted_purchases == pytest.approx(check.actual_purchases, rel=0.1)
    assert check.by_frequency[0].frequency == 0 and check.by_frequency[-1].frequency == 7
    assert sum(row.customers for row in check.by_frequency) == len(both)
    assert check.to_dict()["by_frequency"][0]["customers"] == check.by_frequency[0].customers


def test_bgnbd_agrees_with_lifetimes():
    lifetimes = pytest.importorskip("lifetimes")
    frequency, recency, T = simulate_histories(20_000, **TRUE_BGNBD, seed=6, days_per_unit=7)
    ours = clv.fit_bgnbd(frequency, recency, T)
    theirs = lifetimes.BetaGeoFitter().fit(frequency, recency, T)
    np.testing.assert_allclose(params_of(ours), theirs.params_.values, rtol=1e-3)
    np.testing.assert_allclose(errors_of(ours), theirs.standard_errors_.values, rtol=1e-3)
    mean_negative = lifetimes.BetaGeoFitter._negative_log_likelihood(
        np.log(theirs.params_.values), frequency, recency, T, np.ones(T.size), 0.0)
    assert ours.log_likelihood == pytest.approx(-mean_negative * T.size, rel=1e-6)
    some = slice(0, 300)
    x, t_x, age = frequency[some], recency[some], T[some]
    np.testing.assert_allclose(
        ours.expected_purchases(13.0, x, t_x, age),
        theirs.conditional_expected_number_of_purchases_up_to_time(13.0, x, t_x, age), rtol=1e-3)
    np.testing.assert_allclose(
        ours.probability_alive(x, t_x, age), theirs.conditional_probability_alive(x, t_x, age),
        rtol=1e-3)
    horizons = np.array([1.0, 13.0, 52.0])
    np.testing.assert_allclose(ours.expected_purchases_new_customer(horizons),
                               theirs.expected_number_of_purchases_up_to_time(horizons), rtol=1e-3)


# -- Gamma-Gamma and lifetime value ---------------------------------------------------------

TRUE_SPEND = dict(p=4.0, q=4.0, v=150.0)


def test_gamma_gamma_recovers_the_parameters_it_was_simulated_from():
    frequency = np.random.default_rng(7).poisson(3.0, 40_000)
    spend = simulate_spend(frequency, **TRUE_SPEND, seed=8)
    fit = clv.fit_gamma_gamma(frequency, spend)
    assert fit.converged and fit.customers == int((frequency > 0).sum())
    z = (params_of(fit) - np.array(list(TRUE_SPEND.values()))) / errors_of(fit)
    assert np.all(np.abs(z) < 3), dict(zip(TRUE_SPEND, z))
    assert fit.mean_spend == pytest.approx(4.0 * 150.0 / 3.0, rel=0.05)
    # the expected spend of a customer without repeats is the population mean
    assert fit.expected_average_spend(0, np.nan) == pytest.approx(fit.mean_spend)


def test_gamma_gamma_and_lifetime_value_agree_with_lifetimes():
    lifetimes = pytest.importorskip("lifetimes")
    frequency, recency, T = simulate_histories(20_000, **TRUE_BGNBD, seed=9, days_per_unit=7)
    spend = simulate_spend(frequency, **TRUE_SPEND, seed=10)
    repeat = frequency > 0
    ours = clv.fit_gamma_gamma(frequency, spend)
    theirs = lifetimes.GammaGammaFitter().fit(frequency[repeat], spend[repeat])
    np.testing.assert_allclose(params_of(ours), theirs.params_.values, rtol=1e-3)
    np.testing.assert_allclose(errors_of(ours), theirs.standard_errors_.values, rtol=1e-3)
    some = slice(0, 300)
    x, m = pd.Series(frequency[some]), pd.Series(np.nan_to_num(spend[some]))
    np.testing.assert_allclose(
        ours.expected_average_spend(x[x > 0], m[x > 0]),
        theirs.conditional_expected_average_profit(x[x > 0], m[x > 0]), rtol=1e-3)

    purchases = clv.fit_bgnbd(frequency, recency, T)
    reference_purchases = lifetimes.BetaGeoFitter().fit(frequency, recency, T)
    # lifetimes' month is 4.345 weeks when the model is in weeks
    value = clv.lifetime_value(purchases, ours, x, recency[some], T[some], m, periods=12,
                               period_days=4.345 * 7, discount_rate=0.01)
    reference = theirs.customer_lifetime_value(
        reference_purchases, x, pd.Series(recency[some]), pd.Series(T[some]), m,
        time=12, discount_rate=0.01, freq="W")
    np.testing.assert_allclose(value, reference, rtol=1e-3)


def test_lifetime_value_is_discounted_expected_margin():
    frequency, recency, T = simulate_histories(5_000, **TRUE_BGNBD, seed=13)
    spend = simulate_spend(frequency, **TRUE_SPEND, seed=14)
    purchases = clv.fit_bgnbd(frequency, recency, T, unit_days=7.0)
    fit = clv.fit_gamma_gamma(frequency, spend)
    x, t_x, age, m = frequency[:50], recency[:50], T[:50], spend[:50]
    undiscounted = clv.lifetime_value(purchases, fit, x, t_x, age, m, periods=12,
                                      period_days=28.0, discount_rate=0.0, margin_share=0.3)
    expected = (purchases.expected_purchases(48.0, x, t_x, age)
                * fit.expected_average_spend(x, m) * 0.3)
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-9)
    discounted = clv.lifetime_value(purchases, fit, x, t_x, age, m, periods=12,
                                    period_days=28.0, discount_rate=0.02, margin_share=0.3)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.02**12)


# -- error sentences -------------------------------------------------------------------------


def test_fit_errors_are_sentences():
    with pytest.raises(InputError, match="No customers to fit: the purchase summary is empty"):
        clv.fit_bgnbd([], [], [])
    with pytest.raises(AnalysisError, match="None of the 3 customers made a repeat purchase"):
        clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 6.0, 7.0])
    with pytest.raises(InputError, match="recency is after T for 1 customers"):
        clv.fit_bgnbd([1, 2], [3.0, 9.0], [4.0, 5.0])
    with pytest.raises(InputError, match="one value per customer"):
        clv.fit_bgnbd([1, 2], [3.0], [4.0, 5.0])
    with pytest.raises(InputError, match="whole numbers"):
        clv.fit_bgnbd([1.5], [1.0], [4.0])
    with pytest.raises(AnalysisError, match="None of the 2 customers made a repeat purchase"):
        clv.fit_gamma_gamma([0, 0], [np.nan, np.nan])
    with pytest.raises(AnalysisError, match="All 2 customers with repeat purchases have a mean"):
        clv.fit_gamma_gamma([1, 2, 0], [0.0, -5.0, np.nan])
    frequency, recency, T = simulate_histories(1_000, **TRUE_BGNBD, seed=15)
    purchases = clv.fit_bgnbd(frequency, recency, T)
    spend = clv.fit_gamma_gamma([1, 2, 3], [10.0, 12.0, 30.0], require_convergence=False)
    with pytest.raises(InputError, match="periods must be a whole number"):
        clv.lifetime_value(purchases, spend, [1], [1.0], [2.0], [10.0], periods=0)


def test_a_fit_without_a_proper_maximum_is_reported():
    # every repeat buyer bought at the very end: nothing suggests dropout, and customers'
    # rates barely differ, so the likelihood keeps rising towards infinite r and alpha
    rng = np.random.default_rng(16)
    T = rng.uniform(10, 50, 2_000)
    frequency = rng.poisson(0.3 * T)
    recency = np.where(frequency > 0, T, 0.0)
    with pytest.raises(AnalysisError, match="The BG/NBD fit did not converge: the likelihood"
                                            " keeps rising as parameters go to extreme values"):
        clv.fit_bgnbd(frequency, recency, T)
    unconverged = clv.fit_bgnbd(frequency, recency, T, require_convergence=False)
    assert not unconverged.converged


def test_an_optimiser_that_runs_out_of_iterations_is_reported(monkeypatch):
    monkeypatch.setattr(clv, "MAX_ITERATIONS", 2)
    frequency, recency, T = simulate_histories(2_000, **TRUE_BGNBD, seed=17)
    with pytest.raises(AnalysisError, match="the optimiser stopped after 2 iterations"):
        clv.fit_bgnbd(frequency, recency, T)


def test_results_serialise():
    frequency, recency, T = simulate_histories(2_000, **TRUE_BGNBD, seed=18)
    as_dict = clv.fit_bgnbd(frequency, recency, T, unit_days=1.0).to_dict()
    assert set(as_dict) >= {"r", "alpha", "a", "b", "log_likelihood", "standard_errors"}
    assert as_dict["unit_days"] == 1.0
    assert set(as_dict["standard_errors"]) == {"r", "alpha", "a", "b"}


def test_summary_of_an_empty_table_gives_a_clear_fit_error():
    empty = ibis.memtable(pd.DataFrame({
        "customer_id": pd.Series([], dtype="string"),
        "timestamp": pd.Series([], dtype="datetime64[us]"),
        "amount": pd.Series([], dtype="float64"),
    }))
    con = ibis.duckdb.connect()
    summary = con.execute(clv.rfm_summary(empty))
    assert len(summary) == 0
    with pytest.raises(InputError, match="No customers to fit"):
        clv.fit_bgnbd(summary.frequency, summary.recency, summary["T"])


def test_gamma_gamma_leaves_out_non_positive_spend_and_counts_it():
    frequency = [1, 2, 3, 4, 2, 0]
    spend = [10.0, 12.0, 30.0, 0.0, -4.0, np.nan]
    fit = clv.fit_gamma_gamma(frequency, spend, require_convergence=False)
    kept = clv.fit_gamma_gamma(frequency[:3], spend[:3], require_convergence=False)
    assert fit.excluded_non_positive_spend == 2
    assert fit.customers == 3
    assert fit.params == kept.params  # the excluded customers do not move the fit
    assert fit.to_dict()["excluded_non_positive_spend"] == 2
    expected = fit.expected_average_spend([4, 2], [0.0, -4.0])
    p, q, v = fit.params.p, fit.params.q, fit.params.v
    np.testing.assert_allclose(expected, [p * v / (4 * p + q - 1), p * v / (2 * p + q - 1)])
