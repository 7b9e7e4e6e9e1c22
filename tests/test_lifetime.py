"""Per-customer lifetime value on the demo company's purchases: bills stay out, the
forecast meets the holdout, and values are sane."""

import datetime as dt

import ibis
import pandas as pd
import pytest

from corridor import store
from corridor.demo import DemoConfig, generate
from corridor.errors import InputError
from corridor.lifetime import Horizon, lifetime_values

UNTIL = dt.date(2025, 9, 30)


@pytest.fixture(scope="module")
def transactions(tmp_path_factory):
    files = generate(tmp_path_factory.mktemp("demo"), DemoConfig(customers=6000, seed=11))
    frame = pd.concat([pd.read_parquet(p) for p in files.transactions], ignore_index=True)
    con = ibis.duckdb.connect()
    yield store.put_table(con, "transactions", frame)
    con.disconnect()


def test_only_purchases_are_valued_and_every_buyer_gets_one_row(transactions):
    values = lifetime_values(transactions, until=UNTIL)
    frame = transactions.execute()
    buyers = frame[(frame.kind == "purchase") & (frame.timestamp.dt.date <= UNTIL)]
    assert values.customers == buyers.customer_id.nunique()
    assert set(values.per_customer.column("customer_id").to_pylist()) == set(buyers.customer_id)


def test_the_forecast_meets_the_holdout_within_ten_percent(transactions):
    holdout = lifetime_values(transactions, until=UNTIL).holdout
    assert holdout is not None
    assert holdout.predicted_purchases == pytest.approx(holdout.actual_purchases, rel=0.10)


def test_values_are_positive_and_grow_with_the_horizon(transactions):
    short = lifetime_values(transactions, horizon=Horizon(periods=6))
    long = lifetime_values(transactions, horizon=Horizon(periods=24))
    clv_short = short.per_customer.column("clv").to_numpy()
    clv_long = long.per_customer.column("clv").to_numpy()
    assert (clv_short > 0).all()
    assert (clv_long >= clv_short).all()
    alive = short.per_customer.column("probability_alive").to_numpy()
    assert ((alive >= 0) & (alive <= 1)).all()
    assert short.to_dict()["holdout"] is None  # no cut-off, no holdout


def test_no_purchases_before_the_cut_off_is_one_sentence(transactions):
    with pytest.raises(InputError, match="No purchases by 2000-01-01"):
        lifetime_values(transactions, until=dt.date(2000, 1, 1))
