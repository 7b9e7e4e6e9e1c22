"""`corridor value` on projects that hold only transactions, as a user runs it: the CDNOW
purchase logs that ship with the `lifetimes` package, loaded through the normal ingest
with a mapping file.

- CDNOW_sample.txt is the 1/10 sample (2,357 customers of the cohort of January-March
  1997) that Fader, Hardie & Lee (2005) fitted BG/NBD on, calibrating to 1997-09-30 (39
  weeks): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 in weeks.
- CDNOW_master.txt is the whole cohort (23,570 customers). Its BG/NBD figures are not
  published; they are checked against lifetimes' own fit. One of its customers has a mean
  repeat spend of 0, which Gamma-Gamma cannot describe: it is left out and counted.

Both files repeat some rows exactly (same customer, day, CDs and amount: 21 rows of the
sample, 255 of the master). They are two purchases each, and ingest keeps them: a
transaction has no natural key unless the mapping declares one. Dropping them moved
Gamma-Gamma off lifetimes' fit of the same sample; BG/NBD counts repeat purchase *days*,
so it cannot tell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import cdnow, load_cdnow, run_cli

lifetimes = pytest.importorskip("lifetimes")

UNTIL = "1997-09-30"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005, weeks
NOT_COMPUTED = {"profitability.cost_to_serve", "profitability.margin", "targets", "tiers",
                "underwater", "services", "revenue_at_risk"}


def _project(folder: Path, name: str) -> tuple[Path, dict]:
    """A project made by `corridor init --no-pseudonymise` holding only the transactions
    of CDNOW file ``name`` (loaded from a CSV copy with a mapping file); returns it and
    the load."""
    project = folder / "cdnow.duckdb"
    done = run_cli("init", project, "--no-pseudonymise")
    assert done.returncode == 0, done.stderr
    done = load_cdnow(project, folder, name, "--json")
    assert done.returncode == 0, done.stderr
    return project, json.loads(done.stdout)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("cdnow_sample"), "CDNOW_sample.txt")


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("cdnow_master"), "CDNOW_master.txt"), cdnow("CDNOW_master.txt")


def _value(project: Path, *options: str) -> dict:
    done = run_cli("value", project, "--until", UNTIL, "--unit-days", "7", "--json", *options)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cdnow_sample_gives_the_published_bgnbd_parameters(sample):
    project, load = sample
    assert (load["read"], load["accepted"], load["rejected"]) == (6919, 6919, 0)
    data = _value(project)
    fit = data["lifetime_value"]["purchases"]
    assert fit["converged"] and fit["unit_days"] == 7
    assert fit["customers"] == 2357
    assert {k: round(fit[k], 3) for k in PUBLISHED_BGNBD} == PUBLISHED_BGNBD
    spend = data["lifetime_value"]["spend"]
    assert spend["customers"] == 946 and spend["excluded_non_positive_spend"] == 0


def test_cdnow_sample_gives_lifetimes_gamma_gamma_because_repeated_purchases_are_kept(sample):
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    summary = load_cdnow_summary_data_with_monetary_value()
    returning = summary[summary["frequency"] > 0]
    reference = lifetimes.GammaGammaFitter().fit(
        returning["frequency"], returning["monetary_value"]).params_
    spend = _value(sample[0])["lifetime_value"]["spend"]
    assert spend["customers"] == len(returning) == 946
    for name in ("p", "q", "v"):
        assert spend[name] == pytest.approx(reference[name], rel=1e-3)
    # lifetimes' documented fit of this sample: p 6.25, q 3.74
    assert (round(spend["p"], 2), round(spend["q"], 2)) == (6.25, 3.74)


def test_transactions_only_value_has_clv_rfm_and_revenue_and_says_what_is_missing(sample):
    project, _ = sample
    data = _value(project)
    assert data["lifetime_value"]["customers"] == 2357
    assert data["lifetime_value"]["total_clv"] > 0
    assert data["rfm"]["customers"] == 2357
    total = data["profitability"]["total"]
    assert total["customers"] == 2357 and total["revenue"] > 0
    # no margins and no events: no data, never 0
    assert total["margin"] is None and total["cost_to_serve"] is None and total["profit"] is None
    assert data["profitability"]["cost_known"] is False
    for part in ("targets", "tiers", "underwater", "services", "revenue_at_risk"):
        assert data[part] is None
    gaps = {gap["part"]: gap["reason"] for gap in data["not_computed"]}
    assert set(gaps) == NOT_COMPUTED
    assert "no events" in gaps["profitability.cost_to_serve"]
    assert "no margin" in gaps["profitability.margin"]
    assert all(reason.endswith(".") and reason.count(". ") == 0 for reason in gaps.values())


def test_a_margin_rate_prices_the_margin_but_the_cost_to_serve_stays_unknown(sample):
    project, _ = sample
    data = _value(project, "--margin-rate", "0.25")
    total = data["profitability"]["total"]
    assert total["margin"] == pytest.approx(0.25 * total["revenue"])
    assert total["cost_to_serve"] is None and total["profit"] is None
    gaps = {gap["part"] for gap in data["not_computed"]}
    assert gaps == NOT_COMPUTED - {"profitability.margin"}


def test_cdnow_master_leaves_a_zero_spend_customer_out_of_gamma_gamma(master):
    (project, load), frame = master
    assert (load["read"], load["rejected"]) == (len(frame), 0)
    data = _value(project)
    spend = data["lifetime_value"]["spend"]
    assert spend["excluded_non_positive_spend"] == 1
    assert spend["converged"] and spend["customers"] == 9450
    # the same BG/NBD as lifetimes' fit of the whole cohort, in weeks
    from lifetimes.utils import summary_data_from_transaction_data

    summary = summary_data_from_transaction_data(
        frame, "customer_id", "date", datetime_format="%Y%m%d",
        observation_period_end=UNTIL.replace("-", ""), freq="D")
    reference = lifetimes.BetaGeoFitter().fit(
        summary["frequency"], summary["recency"] / 7, summary["T"] / 7).params_
    fit = data["lifetime_value"]["purchases"]
    assert fit["customers"] == len(summary) == 23570
    for name in ("r", "alpha", "a", "b"):
        assert fit[name] == pytest.approx(reference[name], rel=1e-4), name


def test_value_text_names_the_excluded_customers_and_the_parts_not_computed(master):
    (project, _), _ = master
    done = run_cli("value", project, "--until", UNTIL)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "CLV: 23,570 buying customers" in out
    assert "Gamma-Gamma on 9,450 repeat buyers; 1 left out for a mean repeat spend of 0" in out
    assert "RFM: 23,570 customers" in out
    assert "cost to serve no data; profit no data" in out
    assert "Not computed:" in out
    assert "  revenue_at_risk: Revenue at risk needs events or feedback" in out
    assert "Revenue at risk:" not in out and "Service tiers:" not in out
