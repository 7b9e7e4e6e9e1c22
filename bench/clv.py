"""Lifetime value model fitting speed beside the reference implementation (lifetimes).

    .venv/bin/python bench/clv.py                       # 1M customers, 3 runs each
    .venv/bin/python bench/clv.py --customers 200000 --repeat 5 --skip-reference

Simulates ``--customers`` BG/NBD customers (r=0.6, alpha=8, a=0.8, b=3, weekly rates),
each observed for 1 to 104 weeks since their first purchase, with recency and T on a
day grid as summaries of calendar days are (so many histories repeat), and Gamma-Gamma
mean repeat spends (p=4, q=4, v=150). Then fits, on the same arrays:

- corridor:            ``clv.fit_bgnbd`` (grouped histories) and ``clv.fit_gamma_gamma``;
- corridor ungrouped:  the same likelihood and optimiser without grouping, to show
                       what grouping is worth;
- lifetimes:           ``BetaGeoFitter().fit`` and ``GammaGammaFitter().fit``, when installed.

Times cover the fit only (the corridor figures include grouping and the standard
errors), min and median of ``--repeat`` runs in this process. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from corridor import clv

TRUE_BGNBD = (0.6, 8.0, 0.8, 3.0)
TRUE_SPEND = (4.0, 4.0, 150.0)


def simulate(customers: int, seed: int):
    rng = np.random.default_rng(seed)
    r, alpha, a, b = TRUE_BGNBD
    rate = rng.gamma(r, 1.0 / alpha, customers)
    dropout = rng.beta(a, b, customers)
    age_days = rng.integers(7, 7 * 104 + 1, customers)
    T = age_days / 7.0
    possible = rng.poisson(rate * T)
    frequency = np.minimum(possible, rng.geometric(dropout))
    last = rng.beta(np.maximum(frequency, 1), np.maximum(possible - frequency + 1, 1))
    recency = np.where(frequency > 0, np.floor(last * age_days) / 7.0, 0.0)
    p, q, v = TRUE_SPEND
    nu = rng.gamma(q, 1.0 / v, customers)
    repeats = np.maximum(frequency, 1)
    spend = np.where(frequency > 0, rng.gamma(p * repeats, 1.0 / (nu * repeats)), np.nan)
    return frequency, recency, T, spend


def timed(function, repeat: int):
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return min(seconds), statistics.median(seconds), result


def ungrouped_bgnbd(frequency, recency, T):
    """The library's likelihood and optimiser on every customer, no grouping."""
    x = frequency.astype("float64")
    likelihood = clv._BgNbdLikelihood(x, recency, T, np.ones_like(x))
    start = np.array([1.0, 1.0 / (likelihood.weighted_x / T.sum()), 1.0, 1.0])
    return clv._maximise("BG/NBD", ("r", "alpha", "a", "b"), start, likelihood, True).params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-ungrouped", action="store_true")
    args = parser.parse_args()

    frequency, recency, T, spend = simulate(args.customers, args.seed)
    repeat = frequency > 0
    rows = []  # (model, contender, min, median, parameters)

    best, median, fit = timed(lambda: clv.fit_bgnbd(frequency, recency, T), args.repeat)
    rows.append(("BG/NBD", "corridor", best, median, list(fit.params.to_dict().values())))
    distinct = fit.distinct_histories
    if not args.skip_ungrouped:
        best, median, params = timed(lambda: ungrouped_bgnbd(frequency, recency, T), args.repeat)
        rows.append(("BG/NBD", "corridor ungrouped", best, median, list(params)))
    best, median, spend_fit = timed(lambda: clv.fit_gamma_gamma(frequency, spend), args.repeat)
    rows.append(("Gamma-Gamma", "corridor", best, median, list(spend_fit.params.to_dict().values())))

    reference = None
    if not args.skip_reference:
        try:
            import lifetimes as reference
        except ImportError:
            print("lifetimes is not installed: the reference columns are left out.")
    if reference is not None:
        best, median, theirs = timed(
            lambda: reference.BetaGeoFitter().fit(frequency, recency, T), args.repeat)
        rows.append(("BG/NBD", f"lifetimes {reference.__version__}", best, median,
                     list(theirs.params_.values)))
        best, median, theirs = timed(
            lambda: reference.GammaGammaFitter().fit(frequency[repeat], spend[repeat]), args.repeat)
        rows.append(("Gamma-Gamma", f"lifetimes {reference.__version__}", best, median,
                     list(theirs.params_.values)))

    print(f"{args.customers:,} customers, {int(repeat.sum()):,} with repeat purchases,"
          f" {distinct:,} distinct (frequency, recency, T); {os.cpu_count()} CPUs,"
          f" load average {os.getloadavg()[0]:.1f}; {args.repeat} runs each")
    print(f"true BG/NBD (r, alpha, a, b) = {TRUE_BGNBD}; Gamma-Gamma (p, q, v) = {TRUE_SPEND}")
    print()
    print(f"{'model':<12} {'contender':<20} {'min s':>7} {'median s':>9}  estimates")
    for model, contender, best, median, params in rows:
        shown = ", ".join(f"{value:.4f}" for value in params)
        print(f"{model:<12} {contender:<20} {best:>7.2f} {median:>9.2f}  {shown}")


if __name__ == "__main__":
    main()
