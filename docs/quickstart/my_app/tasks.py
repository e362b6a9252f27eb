"""The work of my_app's jobs: plain functions, which a Dask worker imports and runs."""

import time


def simulate(years):
    """A stand-in for a model run: a fifth of a second per simulated year."""
    flow = 0.0
    for year in range(1, years + 1):
        time.sleep(0.2)
        flow += year
    return {"years": years, "flow": flow}
