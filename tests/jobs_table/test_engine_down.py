"""Requests against a Dask scheduler that is down (closed port) or silent (accepts, never
answers), each timed from outside: the page, the poll, the table's actions and logs, the
status callback, the admin changelist and connection test, and the ``schedulers test``
command answer within their documented bounds, and the jobs end in a clear state."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tests.engines.dask.fixtures import dask_processes  # noqa: F401 - a fixture
from tests.engines.dask.unreachable import SilentScheduler, closed_port_address, timed
from tethys_compute.engines.dask import clients
from tethys_compute.models import DaskJob, DaskScheduler, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)

DASK_TIMEOUT = 2.0  # the scheduler's timeout is 0: this setting applies
BUDGET = 0.5  # a poll's refresh budget: shorter than the engine's timeout on purpose
CALLBACK = 0.5
SLACK = 3.0  # a loaded machine


@pytest.fixture(autouse=True)
def _settings(settings):
    # No failure memory: every request pays its own bound (the worst case).
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "DASK_TIMEOUT": DASK_TIMEOUT,
                               "ENGINE_FAILURE_MEMORY": 0, "JOBS_TABLE_REFRESH_BUDGET": BUDGET,
                               "CALLBACK_REFRESH_TIMEOUT": CALLBACK}
    clients.close_all()
    yield
    clients.close_all()


@pytest.fixture(params=["down", "silent"])
def scheduler(request):
    if request.param == "down":
        yield DaskScheduler.objects.create(name="gone", host=closed_port_address())
        return
    silent = SilentScheduler()
    yield DaskScheduler.objects.create(name="gone", host=silent.address)
    silent.close()


@pytest.fixture
def running(user, scheduler):
    """A Dask job whose task was submitted before the scheduler went away (stale)."""
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("stuck", user, job_type="DASK", scheduler=scheduler)
    job.save()
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RUN", _last_status_update=timezone.now() - timedelta(hours=1))
    DaskJob.objects.filter(pk=job.pk).update(key="work-0123456789abcdef0123456789abcdef")
    return DaskJob.objects.get(pk=job.pk)


def bounded(call, bound):
    outcome = timed(call)
    assert outcome.finished, "the request never returned"
    assert outcome.seconds < bound + SLACK, outcome.seconds
    assert outcome.error is None, outcome.error
    return outcome.value


def table(jobs):
    from tethys_compute.gizmos import JobsTable

    return JobsTable(jobs=jobs, column_fields=["id", "name"],
                     actions=["run", "resubmit", "logs", "terminate", "delete"]
                     ).table_config().dumps()


def act(client, token, job, action):
    return client.post(reverse("jobs_table_action"),
                       {"config": token, "job_id": job.pk, "action": action})


@pytest.mark.urls("tests.jobs_table.urls")
def test_page_and_poll_answer_from_the_database(alice_client, running):
    page = bounded(lambda: alice_client.get("/jobs/"), 0)
    assert page.status_code == 200 and b"stuck" in page.content
    token = table([running])
    answer = bounded(lambda: alice_client.post(
        reverse("jobs_table_poll"), data=json.dumps({"config": token,
                                                     "rows": {str(running.pk): ""}}),
        content_type="application/json"), BUDGET)
    assert answer.status_code == 200
    assert answer.json()["rows"][str(running.pk)]["status"] == "Running"


def test_terminate_answers_within_the_timeout_with_the_reason(alice_client, running, scheduler):
    answer = bounded(lambda: act(alice_client, table([running]), running, "terminate"),
                     DASK_TIMEOUT)
    assert answer.status_code == 503, answer.content
    assert scheduler.address in answer.json()["error"]
    assert DaskJob.objects.get(pk=running.pk).cached_status == "Running"


def test_logs_answer_within_the_timeout(alice_client, running, scheduler):
    answer = bounded(lambda: alice_client.get(
        reverse("jobs_table_logs"), {"config": table([running]), "job_id": running.pk}),
        DASK_TIMEOUT)
    assert answer.status_code == 200
    assert scheduler.address in json.dumps(answer.json())


def test_delete_answers_within_the_timeout(alice_client, running):
    # Aborted here while its task may still be on the cluster: deleting cancels it.
    TethysJob.objects.filter(pk=running.pk).update(_status="ABT")
    running = DaskJob.objects.get(pk=running.pk)
    answer = bounded(lambda: act(alice_client, table([running]), running, "delete"),
                     DASK_TIMEOUT)
    assert answer.status_code == 200 and answer.json()["removed"] is True
    assert not TethysJob.objects.filter(pk=running.pk).exists()


def test_run_ends_in_error_with_the_reason(alice_client, user, scheduler):
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("new", user, job_type="DASK", scheduler=scheduler)
    job.save()
    answer = bounded(lambda: act(alice_client, table([job]), job, "run"), DASK_TIMEOUT)
    assert answer.status_code == 200
    job = DaskJob.objects.get(pk=job.pk)
    assert job.cached_status == "Error" and job.status_message


def test_status_callback_answers_within_its_timeout(client, running, scheduler):
    answer = bounded(lambda: client.get(reverse("update_job_status", args=[running.pk])),
                     CALLBACK)
    assert answer.status_code == 200
    assert answer.json()["refresh"] in ("done", "running")


def test_admin_changelist_and_connection_test(admin_client, running, scheduler):
    changelist = bounded(lambda: admin_client.get(
        reverse("admin:tethys_compute_tethysjob_changelist")), 0)
    assert changelist.status_code == 200 and b"stuck" in changelist.content
    url = reverse("admin:tethys_compute_daskscheduler_changelist")
    answer = bounded(lambda: admin_client.post(url, {
        "action": "test_connection", "_selected_action": [scheduler.pk]}, follow=True),
        DASK_TIMEOUT)
    assert answer.status_code == 200
    assert "connection failed" in answer.content.decode()


def test_schedulers_test_command(scheduler):
    out, err = StringIO(), StringIO()

    def run():
        try:
            call_command("tethys_compute_schedulers", "test", scheduler.name, stdout=out,
                         stderr=err)
        except SystemExit:
            pass
        except Exception as exc:  # noqa: BLE001 - a CommandError is a clear answer
            return exc

    result = bounded(run, DASK_TIMEOUT)
    assert scheduler.address in out.getvalue() + err.getvalue() + str(result or "")


@pytest.fixture
def processes(request):
    cluster = request.getfixturevalue("dask_processes")()
    cluster.start_scheduler()
    cluster.start_worker()
    cluster.wait_for_workers(1)
    return cluster


def test_a_scheduler_that_dies_mid_job(alice_client, user, processes, tmp_path, settings):
    """The scheduler process is killed while the job runs: polls answer within the budget
    from the database, the job stays Running with the reason, and with the failure
    remembered a poll no longer waits at all."""
    import signal

    from tests.engines.dask import work
    from tests.engines.dask.fixtures import wait_until
    from tests.testapp.app import TestApp

    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "ENGINE_FAILURE_MEMORY": 30,
                               "DASK_UPDATE_STATUS_INTERVAL": 0}
    scheduler = DaskScheduler.objects.create(name="dies", host=processes.address)
    job = TestApp.get_job_manager().create_job("long", user, job_type="DASK",
                                               scheduler=scheduler)
    job.execute(work.nap_until_file, str(tmp_path / "never"))
    assert DaskJob.objects.get(pk=job.pk).cached_status == "Running"
    processes.kill(processes.scheduler, signal.SIGKILL)
    token = table([job])

    def poll_once():
        return alice_client.post(
            reverse("jobs_table_poll"), data=json.dumps({"config": token,
                                                         "rows": {str(job.pk): ""}}),
            content_type="application/json")

    for _ in range(3):
        answer = bounded(poll_once, BUDGET)
        assert answer.status_code == 200
        assert answer.json()["rows"][str(job.pk)]["status"] == "Running"
    wait_until(lambda: scheduler.address in (DaskJob.objects.get(pk=job.pk).status_message
                                             or ""),
               timeout=DASK_TIMEOUT + 30, message="the reason on the job")
    assert DaskJob.objects.get(pk=job.pk).cached_status == "Running"
