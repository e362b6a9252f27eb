"""The nodes of the app's HTCondor workflow: ``python -m example.nile_flow.condor_node``.

``bootstrap DIST N SEED OUT``: N bootstrap resamples of the T-year flood, written to OUT
(JSON list). ``combine DIST OUT IN...``: the ML estimate on the full series and the
percentile 95% interval over all resamples, written to OUT. Nodes read and write files in
the workflow's directory, so the pool needs a shared filesystem with the web server (as a
local pool has) and Python with NumPy, SciPy and statsmodels.
"""

import json
import sys

import numpy as np
from scipy import stats

from .analysis import load_nile

PERIODS = (10, 50, 100)


def _levels(dist, params):
    return {str(p): float(dist.ppf(1 - 1 / p, *params)) for p in PERIODS}


def bootstrap(distribution, n_boot, seed, out):
    data = load_nile()[1]
    dist = getattr(stats, distribution)
    rng = np.random.default_rng(int(seed))
    samples = [_levels(dist, dist.fit(rng.choice(data, size=data.size, replace=True)))
               for _ in range(int(n_boot))]
    with open(out, "w") as handle:
        json.dump(samples, handle)


def combine(distribution, out, *parts):
    data = load_nile()[1]
    dist = getattr(stats, distribution)
    samples = [row for part in parts for row in json.load(open(part))]  # noqa: SIM115
    result = {
        "distribution": distribution,
        "tail": "high",
        "return_levels": _levels(dist, dist.fit(data)),
        "ci95": {str(p): [float(np.percentile([s[str(p)] for s in samples], q))
                          for q in (2.5, 97.5)] for p in PERIODS},
        "n": int(data.size),
        "n_boot": len(samples),
        "nodes": len(parts),
        "units": "10^8 m^3 per year",
    }
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"bootstrap": bootstrap, "combine": combine}[command](*arguments)
