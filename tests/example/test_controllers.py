"""The example app's controllers with the test client, its Dask jobs on a real
LocalCluster on 127.0.0.1, its local run reporting to a live server."""

import time

import numpy as np
import pytest
from scipy import stats

from tests.engines.dask.fixtures import *  # noqa: F403
from tethys_compute.models import BasicJob, DaskJob, SchedulerSetting, TethysJob

pytestmark = [pytest.mark.urls("example.urls")]


@pytest.fixture(scope="module")
def jobs():
    """The example app's job launchers, imported when these tests run, not when they are
    collected (importing registers the app's class process-wide; see conftest.py)."""
    from example.nile_flow import jobs

    return jobs


@pytest.fixture
def assigned(dask_scheduler, jobs):
    from example.nile_flow.app import NileFlow

    NileFlow.sync_scheduler_settings()
    SchedulerSetting.objects.filter(app_package="nile_flow", name="dask_primary").update(
        scheduler_service=dask_scheduler)
    return dask_scheduler


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def wait_finished(pk, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = TethysJob.objects.get_subclass(pk=pk)
        job.update_status()
        if job.is_terminal and not job.post_processing_incomplete:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {pk} still {job.cached_status}")


@pytest.mark.django_db
def test_home_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_home_without_a_scheduler_says_how_to_assign_one(logged_in):
    body = logged_in.get("/").content.decode()
    assert "No Dask scheduler is assigned" in body
    assert "tethys_compute_schedulers link" in body
    assert "jobs-table" in body or "tc-jobs-table" in body


@pytest.mark.django_db
def test_frequency_job_runs_on_dask_and_its_result_is_right(logged_in, assigned, user):
    response = logged_in.post("/run/frequency/", {"distribution": "gumbel_r", "n_boot": "60",
                                                  "seed": "5", "tail": "high"})
    assert response.status_code == 302
    (job,) = DaskJob.objects.filter(user=user)
    job = wait_finished(job.pk)
    assert job.cached_status == "Complete"
    from statsmodels.datasets import nile

    data = nile.load().data["volume"].to_numpy(dtype=float)
    expected = stats.gumbel_r.ppf(0.99, *stats.gumbel_r.fit(data))
    assert job.result["return_levels"]["100"] == pytest.approx(expected)
    assert job.result["n_boot"] == 60 and job.result["seed"] == 5
    page = logged_in.get(f"/jobs/{job.pk}/result/").content.decode()
    assert "100 years" in page and f"{expected:.0f}" in page


@pytest.mark.django_db
def test_bad_distribution_is_refused(logged_in, assigned, user):
    response = logged_in.post("/run/frequency/", {"distribution": "__import__('os')"},
                              follow=True)
    assert "Unknown distribution" in response.content.decode()
    assert not DaskJob.objects.exists()


@pytest.mark.django_db
def test_someone_elses_result_page_is_404(logged_in, assigned, other_user, jobs):
    job = jobs.submit_flood_frequency(other_user, n_boot=50)
    assert logged_in.get(f"/jobs/{job.pk}/result/").status_code == 404


@pytest.mark.django_db
def test_batch_submits_one_job_per_distribution(logged_in, assigned, user):
    logged_in.post("/run/batch/", {"n_boot": "50"})
    submitted = DaskJob.objects.filter(user=user)
    names = sorted(job.extended_properties["distribution"] for job in submitted)
    assert names == sorted(("gumbel_r", "lognorm", "gamma", "norm", "logistic"))
    for job in submitted:
        assert wait_finished(job.pk).cached_status == "Complete"


@pytest.mark.django_db
def test_custom_action_reruns_with_the_next_seed(assigned, user, jobs):
    job = wait_finished(jobs.submit_flood_frequency(user, n_boot=50, seed=2).pk)
    assert jobs.is_frequency_job(job, job.cached_status)
    message = jobs.rerun_with_new_seed(job)
    assert "seed 3" in message
    rerun = DaskJob.objects.exclude(pk=job.pk).get()
    assert rerun.extended_properties["seed"] == 3
    assert wait_finished(rerun.pk).result["seed"] == 3


@pytest.mark.django_db(transaction=True)
def test_change_point_local_run_reports_back(live_server, user, jobs):
    job = jobs.submit_change_point(
        user, lambda job: f"{live_server.url}/report-job-status/{job.pk}/")
    assert isinstance(job, BasicJob)
    job = wait_finished(job.pk, timeout=90)
    assert job.cached_status == "Complete", job.status_message
    assert job.extended_properties["result"]["year"] == 1899
    assert job.progress == 100
    history = list(job.status_history.values_list("new_status", flat=True))
    assert history[:2] == ["SUB", "RUN"] and history[-1] == "COM"
    assert np.isclose(job.extended_properties["result"]["mean_after"], 849.97, atol=0.01)
    # Its logs: the local run's own output, as the jobs table's logs dialog shows them.
    logs = {name: text() if callable(text) else text for name, text in job.get_logs().items()}
    assert set(logs) >= {"stdout", "stderr"}, logs
    assert "scanning 97 split points" in logs["stdout"], logs
    assert "change point: 1899" in logs["stdout"], logs


@pytest.mark.django_db
@pytest.mark.parametrize("field,value,message", [
    ("n_boot", "abc", "Resamples must be a whole number"),
    ("n_boot", "10000000", "Resamples must be between 50 and 20000"),
    ("seed", "-1", "Seed must be between"),
    ("tail", "sideways", "Tail must be &quot;high&quot; or &quot;low&quot;"),
])
def test_bad_form_values_are_refused_with_a_reason(logged_in, assigned, field, value, message):
    data = {"distribution": "gumbel_r", "n_boot": "60", "seed": "1", "tail": "high", field: value}
    response = logged_in.post("/run/frequency/", data, follow=True)
    assert message in response.content.decode()
    assert not DaskJob.objects.exists()


@pytest.mark.django_db
def test_home_compares_finished_fits(logged_in, assigned, user, jobs):
    for name in ("norm", "gumbel_r"):
        wait_finished(jobs.submit_flood_frequency(user, distribution=name, n_boot=50).pk)
    body = logged_in.get("/").content.decode()
    table = body[body.index("Distributions compared"):body.index("Your jobs")]
    assert table.index(">norm<") < table.index(">gumbel_r<")  # norm has the lower AIC
