"""The headless demo (``example/demo.py --smoke``) on a real Dask scheduler + worker, its
results checked against the same statistics computed here independently: the data read
straight from statsmodels, the fits and bootstrap with SciPy/NumPy, and the change point
by cumulative sums (the app scans split points one by one)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.datasets import nile

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "example" / "demo.py"), "--smoke", "--dir", str(directory),
         "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((directory / "smoke-results.json").read_text())
    return result.stdout, summary, directory


def volumes():
    return nile.load().data["volume"].to_numpy(dtype=float)


def independent_frequency(distribution, n_boot, seed, tail, period=100):
    data = volumes()
    dist = getattr(stats, distribution)
    q = 1 - 1 / period if tail == "high" else 1 / period
    level = dist.ppf(q, *dist.fit(data))
    rng = np.random.default_rng(seed)
    boot = [dist.ppf(q, *dist.fit(rng.choice(data, size=data.size, replace=True)))
            for _ in range(n_boot)]
    return level, np.percentile(boot, [2.5, 97.5])


def test_every_job_completes_and_the_output_says_so(smoke):
    stdout, summary, _ = smoke
    assert [job["status"] for job in summary["jobs"]] == ["Complete"] * 6
    assert "6/6 jobs complete with checked results" in stdout
    assert "finished [" in stdout  # the progress line


def test_frequency_results_match_an_independent_computation(smoke):
    _, summary, _ = smoke
    frequency = [job for job in summary["jobs"] if job["parameters"].get("analysis") == "frequency"]
    assert {job["type"] for job in frequency} == {"DaskJob"}
    assert len(frequency) == 5
    for job in frequency:
        p = job["parameters"]
        level, (low, high) = independent_frequency(p["distribution"], p["n_boot"], p["seed"], p["tail"])
        result = job["result"]
        assert result["n"] == 100 and result["n_boot"] == p["n_boot"]
        assert result["return_levels"]["100"] == pytest.approx(level, rel=1e-9)
        assert result["ci95"]["100"] == pytest.approx([low, high], rel=1e-9)


def test_change_point_matches_cumulative_sum_search(smoke):
    _, summary, _ = smoke
    (job,) = [job for job in summary["jobs"] if job["parameters"].get("analysis") == "change_point"]
    assert job["type"] == "BasicJob"
    data = nile.load().data
    years, flow = data["year"].to_numpy(), data["volume"].to_numpy(dtype=float)
    n = flow.size
    splits = np.arange(2, n - 1)
    csum, csq = np.cumsum(flow), np.cumsum(flow ** 2)
    left = csq[splits - 1] - csum[splits - 1] ** 2 / splits
    right = (csq[-1] - csq[splits - 1]) - (csum[-1] - csum[splits - 1]) ** 2 / (n - splits)
    best = splits[np.argmin(left + right)]
    assert job["result"]["year"] == int(years[best]) == 1899
    assert job["result"]["mean_before"] == pytest.approx(flow[:best].mean())
    assert job["result"]["mean_after"] == pytest.approx(flow[best:].mean())


def test_servers_were_stopped(smoke):
    _, _, directory = smoke
    for name in ("web", "monitor", "dask-scheduler", "dask-worker"):
        assert (directory / f"{name}.log").exists()
    scheduler_log = (directory / "dask-scheduler.log").read_text()
    assert "End scheduler" in scheduler_log or "Stopped scheduler" in scheduler_log
