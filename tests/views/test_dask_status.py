"""``update-dask-job-status/<key>/`` (tethys_compute/views/dask_status.py): transitions
only with a valid per-job token; without one, at most a re-check from the scheduler."""

from datetime import timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, JobStatusChange, TethysJob
from tethys_compute.models.dask.dask_token import SALT, make_token

pytestmark = pytest.mark.django_db(transaction=True)


def url(key):
    return reverse("update_dask_job_status", kwargs={"key": key})


def report(client, job, status, token=None, key=None, **fields):
    token = job.status_token if token is None else token
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(url(key or job.key), {"status": status, **fields}, **headers)


def reload(job):
    return DaskJob.objects.get(pk=job.pk)


def age(job, seconds=120):
    """Make the job's last status check ``seconds`` old."""
    TethysJob.objects.filter(pk=job.pk).update(
        _last_status_update=timezone.now() - timedelta(seconds=seconds))


def task_state(job):
    with clients.connection(job.scheduler.host) as client:
        return tasks.task_states(client, [job.key], 10)[job.key]


@pytest.fixture
def running_job(make_dask_job, tmp_path):
    """A job whose task runs until the test ends (its gate file is created then)."""
    gate = tmp_path / "gate"
    job = make_dask_job()
    job.execute(work.nap_until_file, str(gate), "late")
    wait_until(lambda: task_state(job) == "processing", message="the task to run")
    yield job
    gate.touch()


@pytest.fixture
def finished_job(make_dask_job):
    job = make_dask_job()
    job.execute(work.add, 40, y=2)
    wait_until(lambda: task_state(job) == "memory", message="the task to finish")
    return job


def test_valid_token_report_completes_the_job(client, finished_job):
    response = report(client, finished_job, "processing-memory")
    assert response.status_code == 200
    assert response.json() == {"success": True, "status": "Complete", "work": "done"}
    fresh = reload(finished_job)
    assert fresh.cached_status == "Complete" and fresh.result == 42
    reasons = list(JobStatusChange.objects.filter(job_id=fresh.pk, new_status="RES")
                   .values_list("reason", flat=True))
    assert reasons == ["reported by the Dask scheduler plugin (processing-memory)"]


def test_tokenless_report_never_sets_the_status(client, running_job):
    age(running_job)
    response = client.get(url(running_job.key), {"status": "processing-memory"})
    assert response.status_code == 200
    assert response.json() == {"success": True, "status": "Running", "work": "done"}
    assert reload(running_job).cached_status == "Running"  # the scheduler says processing
    response = client.post(url(running_job.key), {"status": "processing-erred"})
    assert response.json()["work"] == "skipped"  # checked less than a second ago
    assert reload(running_job).cached_status == "Running"


def test_tokenless_report_may_only_trigger_a_recheck(client, finished_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_CALLBACK_MIN_INTERVAL": 60}
    # Tethys's plugin format: GET with the transition, no token. The re-check finds the
    # task in memory: the job completes from the scheduler's answer.
    assert client.get(url(finished_job.key)).json()["work"] == "skipped"  # just executed
    age(finished_job)
    response = client.get(url(finished_job.key), {"status": "waiting-processing"})
    assert response.json() == {"success": True, "status": "Complete", "work": "done"}
    assert reload(finished_job).result == 42


def test_token_in_the_query_string_is_not_accepted(client, running_job):
    age(running_job)
    response = client.get(url(running_job.key),
                          {"status": "processing-erred", "token": running_job.status_token})
    assert response.status_code == 200 and response.json()["work"] == "done"
    assert reload(running_job).cached_status == "Running"


@pytest.mark.parametrize("make_bad", [
    lambda job: "forged",
    lambda job: make_token(job.pk, "other-key"),
    lambda job: signing.dumps([str(job.pk), job.key], salt="another.purpose"),
    lambda job: signing.dumps([str(job.pk), job.key], salt=SALT, key="not-our-secret"),
])
def test_bad_tokens_are_refused(client, running_job, make_bad):
    response = report(client, running_job, "processing-erred", token=make_bad(running_job),
                      exception="lies")
    assert response.status_code in (403, 404)
    assert reload(running_job).cached_status == "Running"


def test_valid_token_of_a_job_not_visible_yet_asks_to_retry(client, running_job):
    token = make_token(running_job.pk + 1000, running_job.key)
    response = report(client, running_job, "processing-memory", token=token)
    assert response.status_code == 425
    assert reload(running_job).cached_status == "Running"


def test_token_of_one_job_is_useless_for_another(client, running_job, finished_job):
    response = report(client, running_job, "processing-memory", token=finished_job.status_token)
    assert response.status_code == 403
    assert reload(running_job).cached_status == "Running"


def test_expired_token_is_refused(client, running_job, settings):
    token = running_job.status_token
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "STATUS_REPORT_MAX_AGE": 0.000001}
    assert report(client, running_job, "processing-erred", token=token).status_code == 403


def test_reports_after_the_job_ended_change_nothing(client, finished_job):
    token = finished_job.status_token
    assert report(client, finished_job, "processing-memory").status_code == 200
    before = reload(finished_job)
    history = JobStatusChange.objects.filter(job_id=before.pk).count()
    for status in ("memory-erred", "waiting-processing", "processing-memory"):
        response = report(client, finished_job, status, token=token, exception="late")
        assert response.status_code == 409
        assert response.json()["error"] == "job has already finished"
    after = reload(finished_job)
    assert (after.cached_status, after.result, after.status_message, after.completion_time) \
        == (before.cached_status, before.result, before.status_message, before.completion_time)
    assert JobStatusChange.objects.filter(job_id=before.pk).count() == history
    # Tokenless calls too.
    assert client.get(url(finished_job.key), {"status": "x"}).status_code == 409


def test_erred_report_ends_in_error_with_the_reason(client, make_dask_job):
    job = make_dask_job()
    job.execute(work.boom, "bad input")
    wait_until(lambda: task_state(job) == "erred", message="the task to fail")
    response = report(client, job, "processing-erred", exception="ValueError('bad input')")
    assert response.json() == {"success": True, "status": "Error", "work": "done"}
    fresh = reload(job)
    assert "bad input" in fresh.status_message
    wait_until(lambda: task_state(job) is None, message="the erred task to be released")


def test_cancelled_report_ends_aborted(client, running_job):
    response = report(client, running_job, "processing-released", cancelled="1")
    assert response.json()["status"] == "Aborted"


def test_released_report_is_only_a_recheck(client, running_job):
    response = report(client, running_job, "processing-released")
    assert response.json() == {"success": True, "status": "Running", "work": "done"}


def test_processing_and_no_worker_reports(client, running_job):
    assert report(client, running_job, "waiting-no-worker").json()["status"] == "Running"
    assert "no-worker" in reload(running_job).status_message
    assert report(client, running_job, "no-worker-processing").json()["status"] == "Running"
    assert reload(running_job).status_message is None


def test_unknown_transition_is_refused(client, running_job):
    response = report(client, running_job, "processing-exploded")
    assert response.status_code == 400
    assert "invalid status" in response.json()["error"]


def test_report_for_a_job_being_submitted_asks_to_retry(client, make_dask_job):
    job = make_dask_job()
    job.save()
    token = make_token(job.pk, "inc-0123")  # the key the plugin saw before the row has it
    response = report(client, job, "waiting-processing", token=token, key="inc-0123")
    assert response.status_code == 425


def test_stale_report_after_resubmit_is_refused(client, finished_job):
    old_token, old_key = finished_job.status_token, finished_job.key
    assert report(client, finished_job, "processing-memory").status_code == 200
    job = reload(finished_job)
    job.resubmit()
    response = report(client, job, "processing-erred", token=old_token, key=old_key)
    assert response.status_code == 409
    assert "stale" in response.json()["error"]
    assert reload(job).cached_status in ("Running", "Complete")


def test_unknown_key_without_token(client):
    response = client.get(url("nobody-knows"), {"status": "processing-memory"})
    assert response.status_code == 404


def test_other_methods_are_refused(client, running_job):
    assert client.put(url(running_job.key)).status_code == 405
