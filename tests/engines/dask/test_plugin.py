"""The scheduler plugin (tethys_compute/engines/dask/plugin.py) reporting to a real
Django live server: in a LocalCluster's scheduler, and preloaded into a ``dask scheduler``
process as a user runs it."""

import asyncio

import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import LOCAL_CLUSTER_OPTIONS, read_json, wait_until
from tethys_compute.engines.dask import clients
from tethys_compute.engines.dask.plugin import TethysJobStatusPlugin
from tethys_compute.models import DaskScheduler

pytestmark = [pytest.mark.urls("tests.engines.dask.urls"),
              pytest.mark.django_db(transaction=True)]

TERMINAL = ("Complete", "Error", "Aborted")


def watch(server, job, until=TERMINAL, timeout=30):
    """Read the job over HTTP (no polling of the scheduler) until its status is one of
    ``until``; return the state."""
    url = f"{server.url}/_test/dask-job/{job.pk}/"
    return wait_until(lambda: (s := read_json(url))["status"] in until and s,
                      timeout=timeout, message=f"job {job.pk} to reach {until}")


@pytest.fixture
def plugged_cluster(push_server):
    """A LocalCluster whose scheduler runs the plugin, reporting to the live server."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, **LOCAL_CLUSTER_OPTIONS)
    plugin = TethysJobStatusPlugin(push_server.url, scheduler=cluster.scheduler,
                                   retry_delay=0.1)
    cluster.scheduler.add_plugin(plugin)
    yield cluster, plugin
    clients.close_client(cluster.scheduler_address)
    cluster.close()


@pytest.fixture
def scheduler_row(plugged_cluster):
    return DaskScheduler.objects.create(name="plugged",
                                        host=plugged_cluster[0].scheduler_address)


def test_push_alone_completes_the_job(push_server, plugged_cluster, scheduler_row,
                                      make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=scheduler_row)
    job.execute(work.nap_until_file, str(gate), {"answer": 42})
    gate.touch()  # the task finishes only once execute() is done with the database
    state = watch(push_server, job)
    assert state["status"] == "Complete" and state["result"] == {"answer": 42}
    reasons = [reason for _, reason in state["history"]]
    assert "reported by the Dask scheduler plugin (processing-memory)" in reasons


def test_push_of_an_error_keeps_the_reason(push_server, plugged_cluster, scheduler_row,
                                           make_dask_job):
    job = make_dask_job(scheduler=scheduler_row)
    job.execute(work.boom, "pushed reason")
    state = watch(push_server, job)
    assert state["status"] == "Error" and "pushed reason" in state["status_message"]


def test_tasks_of_other_clients_are_not_reported(push_server, plugged_cluster):
    cluster, plugin = plugged_cluster
    with clients.connection(cluster.scheduler_address) as client:
        assert client.submit(work.inc, 1).result(timeout=20) == 2
        assert client.submit(work.boom).exception(timeout=20) is not None
    assert plugin.sent == {}


def test_many_jobs_complete_by_push(push_server, plugged_cluster, scheduler_row,
                                    make_dask_job, tmp_path):
    gate = tmp_path / "gate"
    jobs = [make_dask_job(name=f"p{i}", scheduler=scheduler_row) for i in range(20)]
    for i, job in enumerate(jobs):
        job.execute(work.nap_until_file, str(gate), i)
    gate.touch()
    for i, job in enumerate(jobs):
        state = watch(push_server, job)
        assert (state["status"], state["result"]) == ("Complete", i)


def test_plugin_retries_while_the_server_cannot_take_the_report(plugged_cluster):
    cluster, _ = plugged_cluster
    plugin = TethysJobStatusPlugin("http://127.0.0.1:9", max_attempts=3, retry_delay=0.05)
    code = cluster.sync(plugin._post, "k", "token", {"status": "waiting-processing"})
    assert code == 599 and plugin.sent == {599: 1}


def test_plugin_refuses_a_bad_host():
    for host in ("", "ftp://x", "localhost:8000", None):
        with pytest.raises(ValueError, match="--tethys-host"):
            TethysJobStatusPlugin(host)
    plugin = TethysJobStatusPlugin("https://portal.example.org/prefix/")
    assert plugin.url_for("a/b c") == (
        "https://portal.example.org/prefix/update-dask-job-status/a%2Fb%20c/")


def test_reports_for_one_key_are_sent_in_order(plugged_cluster):
    cluster, _ = plugged_cluster
    plugin = TethysJobStatusPlugin("http://127.0.0.1:9")
    order = []

    async def fake_post(key, token, fields):
        await asyncio.sleep(0.05 if fields["status"] == "first" else 0)
        order.append(fields["status"])

    plugin._post = fake_post

    async def run():
        one = asyncio.ensure_future(plugin._report("k", "t", {"status": "first"}))
        two = asyncio.ensure_future(plugin._report("k", "t", {"status": "second"}))
        await asyncio.gather(one, two)

    cluster.sync(run)
    assert order == ["first", "second"]
