"""The Dask tutorial (C1/C2) and gwdm (C10) families on a real Dask cluster: F1 (manager
made at import), F2 (``job_type="DASK"``), F4 (execute on an unsaved job), F8
(``list_jobs(order_by="-id")``, ``get_job(job_id=)``), F18 (the global
``get_scheduler(name)``), F19 (futures made on ``scheduler.client``; its
``DaskJobException``), F20 (``process_results_function`` stored as a dotted path and
applied to the result), F21 (no scheduler plugin: the monitor ends the jobs), and the
tutorial's deployment with the scheduler plugin reporting to a live server."""

import gc
import socket

import pytest

from tests.clients.apps import dask_tutorial, gwdm
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, wait_until
from tethys_compute.engines.dask import clients
from tethys_compute.models import DaskJob, DaskScheduler, SchedulerSetting, TethysJob
from tethys_compute.models.dask.dask_job_exception import DaskJobException
from tethys_compute.monitor import run_cycle

pytestmark = pytest.mark.django_db(transaction=True)

TERMINAL = ("COM", "ERR", "ABT")


@pytest.fixture(autouse=True)
def _quick_refresh(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 0}


def assign(app, setting, scheduler):
    app.sync_scheduler_settings()
    SchedulerSetting.objects.filter(app_package=app.package, name=setting).update(
        scheduler_service=scheduler)


def run_monitor_until_finished(job, timeout=30):
    """The deployment without the plugin (F21): the monitor alone ends the job."""
    def finished():
        run_cycle()
        return TethysJob.objects.get(pk=job.pk)._status in TERMINAL
    wait_until(finished, timeout=timeout, interval=0.1, message=f"job {job.pk} to finish")
    return DaskJob.objects.get(pk=job.pk)


def test_tutorial_delayed_job_runs_unsaved_and_stores_the_converted_result(user,
                                                                            dask_scheduler):
    assign(dask_tutorial.DaskTutorial, "dask_primary", dask_scheduler)
    job = dask_tutorial.run_job(user, "delayed")
    assert job.pk is not None  # execute() saved the unsaved job (F4)
    stored = run_monitor_until_finished(job)
    assert stored.cached_status == "Complete"
    # (0+1 + 0*2) + (1+1 + 1*2) + (2+1 + 2*2) = 12, then the results function.
    assert dask_tutorial.result(job.pk) == ("dask_delayed", "$12")
    assert stored._process_results_function == (
        "tests.clients.apps.dask_tutorial.convert_to_dollar_sign")
    assert stored.status == "Complete" and stored._status == "COM"


def test_tutorial_future_made_on_scheduler_client_is_kept_alive(user, dask_scheduler):
    assign(dask_tutorial.DaskTutorial, "dask_primary", dask_scheduler)
    job = dask_tutorial.run_job(user, "distributed")
    gc.collect()  # the controller kept no reference to its futures
    stored = run_monitor_until_finished(job)
    assert stored.cached_status == "Complete" and stored.result == "$12"


def test_tutorial_jobs_list_newest_first_and_missing_job_is_none(user, dask_scheduler):
    assign(dask_tutorial.DaskTutorial, "dask_primary", dask_scheduler)
    first = dask_tutorial.run_job(user, "delayed")
    second = dask_tutorial.run_job(user, "delayed")
    listed = dask_tutorial.jobs_table(user)
    assert [job.pk for job in listed] == [second.pk, first.pk]
    assert all(type(job) is DaskJob for job in listed)
    assert dask_tutorial.job_manager.get_job(job_id=999999) is None
    for job in (first, second):
        run_monitor_until_finished(job)


def test_scheduler_client_raises_dask_job_exception_when_the_scheduler_is_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = DaskScheduler.objects.create(name="down", host=f"tcp://127.0.0.1:{port}",
                                        timeout=1)
    with pytest.raises(DaskJobException):
        down.client  # noqa: B018 - the tutorial's "scheduler is down" signal


def test_gwdm_global_scheduler_lookup_and_import_time_manager(user, dask_cluster):
    assert gwdm.run_interpolation(user, "north", [1, 2, 3]) is None  # no such scheduler
    DaskScheduler.objects.create(name="gwdm_dask", host=dask_cluster.scheduler_address)
    job = gwdm.run_interpolation(user, "north", [1, 2, 3])
    stored = run_monitor_until_finished(job)
    assert stored.cached_status == "Complete"
    assert stored.result == {"region": "north", "mean": 2.0}
    assert [j.pk for j in gwdm.list_jobs()] == [job.pk]
    assert stored.label == "gwdm"


@pytest.fixture
def plugged_scheduler(push_server):
    """The tutorial's deployment: a scheduler running tethys_compute's plugin, which
    reports to the (live) Django server."""
    from distributed import LocalCluster

    from tethys_compute.engines.dask.plugin import TethysJobStatusPlugin

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, **LOCAL_CLUSTER_OPTIONS)
    cluster.scheduler.add_plugin(TethysJobStatusPlugin(push_server.url,
                                                       scheduler=cluster.scheduler,
                                                       retry_delay=0.1))
    yield DaskScheduler.objects.create(name="plugged", host=cluster.scheduler_address)
    clients.close_client(cluster.scheduler_address)
    cluster.close()


@pytest.mark.urls("tests.engines.dask.urls")
def test_tutorial_with_the_scheduler_plugin_completes_by_push(user, plugged_scheduler,
                                                              settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 3600}
    assign(dask_tutorial.DaskTutorial, "dask_primary", plugged_scheduler)
    job = dask_tutorial.run_job(user, "delayed")
    wait_until(lambda: DaskJob.objects.get(pk=job.pk)._status in TERMINAL, timeout=30,
               message="the plugin's report")
    stored = DaskJob.objects.get(pk=job.pk)
    assert stored.cached_status == "Complete" and stored.result == "$12"
