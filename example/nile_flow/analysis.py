"""The science of the example app: flood and drought frequency of the river Nile.

Data: annual discharge of the Nile at Aswan, 1871-1970, in 10^8 m^3 (Cobb 1978; Durbin &
Koopman 2001), as shipped inside the ``statsmodels`` wheel (``statsmodels.datasets.nile``).

Every function here is plain Python on NumPy/SciPy: the app runs them as Dask tasks
(``fit_and_bootstrap``, ``compare_distributions``) or in a local process
(``change_point``), and stores their JSON-able results on the job.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Distributions the app offers, by scipy.stats name.
DISTRIBUTIONS = ("gumbel_r", "lognorm", "gamma", "norm", "logistic")


def load_nile():
    """Return ``(years, volumes)``: two float arrays of length 100 (1871-1970), volumes in
    10^8 m^3 per year."""
    from statsmodels.datasets import nile

    frame = nile.load().data
    return frame["year"].to_numpy(dtype=float), frame["volume"].to_numpy(dtype=float)


def _quantile_for(dist, params, period, tail):
    """Flow exceeded (tail="high") or undershot (tail="low") once every ``period`` years."""
    probability = 1.0 - 1.0 / period if tail == "high" else 1.0 / period
    return float(dist.ppf(probability, *params))


def curve_periods(return_periods=(10, 50, 100)):
    """The return periods (years) a return-level curve is drawn at: log-spaced from just
    over one year to at least 200 years, with ``return_periods`` among them."""
    top = max(200, 2 * max(return_periods))
    grid = {round(float(t), 3) for t in np.geomspace(1.01, top, 40)}
    return sorted(grid | {int(p) for p in return_periods})


def _quantiles_for(dist, params, periods, tail):
    """``_quantile_for`` over an array of periods."""
    periods = np.asarray(periods, dtype=float)
    probability = 1.0 - 1.0 / periods if tail == "high" else 1.0 / periods
    return dist.ppf(probability, *params)


def fit_and_bootstrap(distribution="gumbel_r", return_periods=(10, 50, 100), n_boot=1000,
                      seed=0, tail="high", volumes=None):
    """Fit ``distribution`` to the annual volumes by maximum likelihood and estimate the
    T-year flows with percentile-bootstrap 95% confidence intervals.

    :param distribution: a scipy.stats continuous distribution name (see ``DISTRIBUTIONS``).
    :param return_periods: return periods T in years (ints > 1).
    :param n_boot: bootstrap resamples (int >= 50).
    :param seed: seed of the resampling (results are reproducible).
    :param tail: ``"high"`` for floods, ``"low"`` for droughts.
    :param volumes: the series to use (default: the Nile at Aswan).
    :returns: a JSON-able dict: distribution, params, return levels and CIs per period,
        log-likelihood, AIC, n, n_boot, and ``curve``: the return-level curve
        (``periods``, ``level``) with its bootstrap 95% band (``low``, ``high``) over
        :func:`curve_periods`, from the same resamples as the CIs.
    :raises ValueError: on an unknown distribution or tail, periods <= 1, n_boot < 50.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"Unknown distribution {distribution!r}; use one of {DISTRIBUTIONS}.")
    if tail not in ("high", "low"):
        raise ValueError(f'tail must be "high" or "low", not {tail!r}.')
    periods = [int(p) for p in return_periods]
    if not periods or min(periods) <= 1:
        raise ValueError(f"Return periods must be years > 1, not {list(return_periods)}.")
    if int(n_boot) < 50:
        raise ValueError(f"n_boot must be at least 50, not {n_boot}.")
    data = load_nile()[1] if volumes is None else np.asarray(volumes, dtype=float)
    dist = getattr(stats, distribution)
    params = dist.fit(data)
    loglik = float(np.sum(dist.logpdf(data, *params)))
    levels = {str(p): _quantile_for(dist, params, p, tail) for p in periods}

    grid = curve_periods(periods)
    rng = np.random.default_rng(seed)
    samples = {str(p): [] for p in periods}
    curves = []
    for _ in range(int(n_boot)):
        resample = rng.choice(data, size=data.size, replace=True)
        boot_params = dist.fit(resample)
        for p in periods:
            samples[str(p)].append(_quantile_for(dist, boot_params, p, tail))
        curves.append(_quantiles_for(dist, boot_params, grid, tail))
    intervals = {
        key: [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
        for key, values in samples.items()
    }
    low, high = np.percentile(np.array(curves), [2.5, 97.5], axis=0)
    curve = {"periods": grid,
             "level": [float(v) for v in _quantiles_for(dist, params, grid, tail)],
             "low": [float(v) for v in low], "high": [float(v) for v in high]}
    return {
        "distribution": distribution,
        "tail": tail,
        "params": [float(v) for v in params],
        "return_levels": levels,
        "ci95": intervals,
        "loglik": loglik,
        "aic": 2 * len(params) - 2 * loglik,
        "n": int(data.size),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "units": "10^8 m^3 per year",
        "curve": curve,
    }


def compare_distributions(distributions=DISTRIBUTIONS, volumes=None):
    """Fit each distribution and rank them by AIC (lower is better), with the
    Kolmogorov-Smirnov statistic of each fit.

    :returns: a JSON-able dict ``{"ranking": [{"distribution", "aic", "ks"}...], "best"}``.
    """
    data = load_nile()[1] if volumes is None else np.asarray(volumes, dtype=float)
    rows = []
    for name in distributions:
        dist = getattr(stats, name)
        params = dist.fit(data)
        loglik = float(np.sum(dist.logpdf(data, *params)))
        ks = float(stats.kstest(data, name, args=params).statistic)
        rows.append({"distribution": name, "aic": 2 * len(params) - 2 * loglik, "ks": ks})
    rows.sort(key=lambda row: row["aic"])
    return {"ranking": rows, "best": rows[0]["distribution"]}


def change_point(years=None, volumes=None):
    """Find the single shift in mean that best splits the series (least squares over
    every split point), e.g. the drop after the Aswan Low Dam works of 1898-1902.

    :returns: a JSON-able dict: year (first year after the shift), mean before/after,
        the fraction of variance the split explains.
    """
    if years is None or volumes is None:
        years, volumes = load_nile()
    volumes = np.asarray(volumes, dtype=float)
    total = float(np.sum((volumes - volumes.mean()) ** 2))
    best = None
    for split in range(2, volumes.size - 1):
        before, after = volumes[:split], volumes[split:]
        sse = float(np.sum((before - before.mean()) ** 2) + np.sum((after - after.mean()) ** 2))
        if best is None or sse < best[0]:
            best = (sse, split)
    sse, split = best
    return {
        "year": int(years[split]),
        "mean_before": float(volumes[:split].mean()),
        "mean_after": float(volumes[split:].mean()),
        "explained_variance": 1.0 - sse / total,
    }
