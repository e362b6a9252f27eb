"""Dask jobs against a ``dask scheduler`` + ``dask worker`` pair in separate processes:
the preloaded plugin's push path, and faults (a worker killed mid-task, the scheduler
restarted, the web side's client dropped, 200 jobs with bounded connections)."""


import psutil
import pytest

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import (
    own_client,
    read_json,
    run_python,
    tcp_connections_to,
    wait_until,
)
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, DaskScheduler, TethysJob
from tethys_compute.monitor import refresh_jobs

pytestmark = pytest.mark.slow

TERMINAL = ("Complete", "Error", "Aborted")


def _cluster(dask_processes, workers=1, tethys_host=None, env=None, nanny=False):
    processes = dask_processes(tethys_host=tethys_host, env=env)
    processes.start_scheduler()
    for _ in range(workers):
        processes.start_worker(nanny=nanny)
    if workers:
        processes.wait_for_workers(workers)
    return processes


def _row(processes, **fields):
    return DaskScheduler.objects.create(name="pair", host=processes.address, timeout=5,
                                        **fields)


def _state(job):
    with clients.connection(job.scheduler.host, timeout=5) as client:
        return tasks.task_states(client, [job.key], 5)[job.key]


def _poll(job, until=TERMINAL, timeout=60):
    def check():
        try:
            job.refresh_from_scheduler()
        except Exception:  # noqa: BLE001 - recorded on the job; keep polling
            pass
        return job.cached_status in until

    wait_until(check, timeout=timeout, interval=0.1,
               message=f"job {job.pk} to reach {until} (now {job.cached_status})")
    return job.cached_status


def _listening(process):
    proc = psutil.Process(process.pid)
    sockets = []
    for p in [proc, *proc.children(recursive=True)]:
        sockets += [c.laddr.ip for c in p.net_connections("tcp") if c.status == "LISTEN"]
    return sockets


@pytest.mark.urls("tests.engines.dask.urls")
@pytest.mark.django_db(transaction=True)
def test_preloaded_plugin_pushes_transitions(push_server, dask_processes, make_dask_job,
                                              tmp_path):
    processes = _cluster(dask_processes, tethys_host=push_server.url)
    assert set(_listening(processes.scheduler)) == {"127.0.0.1"}
    assert set(_listening(processes.workers[0])) == {"127.0.0.1"}
    gate = tmp_path / "gate"
    ok = make_dask_job(name="ok", scheduler=_row(processes))
    ok.execute(work.nap_until_file, str(gate), [1, 2, 3])
    bad = make_dask_job(name="bad", scheduler=ok.scheduler)
    bad.execute(work.nap_until_file, str(gate), None)
    broken = make_dask_job(name="broken", scheduler=ok.scheduler)
    broken.execute(work.boom, "raised in a worker process")
    gate.touch()

    def watch(job):
        url = f"{push_server.url}/_test/dask-job/{job.pk}/"
        return wait_until(lambda: (s := read_json(url))["status"] in TERMINAL and s,
                          timeout=60, message=f"job {job.pk} to finish by push")

    state = watch(ok)
    assert (state["status"], state["result"]) == ("Complete", [1, 2, 3])
    assert any("Dask scheduler plugin" in reason for _, reason in state["history"])
    assert watch(bad)["status"] == "Complete"
    state = watch(broken)
    assert state["status"] == "Error"
    assert "raised in a worker process" in state["status_message"]


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_task_then_a_new_worker_finishes_it(dask_processes, make_dask_job,
                                                              tmp_path):
    processes = _cluster(dask_processes)
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=_row(processes))
    job.execute(work.nap_until_file, str(gate), "survived")
    wait_until(lambda: _state(job) == "processing", message="the task to run")
    processes.kill(processes.workers[0])
    wait_until(lambda: _state(job) in ("no-worker", "queued", "waiting", "released"),
               message="the task to wait for a worker")
    job.refresh_from_scheduler()
    assert job.cached_status == "Running"  # not finished, not failed
    gate.touch()
    processes.start_worker()
    assert _poll(job) == "Complete"
    assert DaskJob.objects.get(pk=job.pk).result == "survived"


@pytest.mark.django_db(transaction=True)
def test_worker_killed_with_no_retries_left_ends_in_error(dask_processes, make_dask_job,
                                                          tmp_path):
    processes = _cluster(dask_processes,
                         env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=_row(processes))
    job.execute(work.nap_until_file, str(gate))
    wait_until(lambda: _state(job) == "processing", message="the task to run")
    processes.kill(processes.workers[0])
    assert _poll(job) == "Error"
    assert "KilledWorker" in DaskJob.objects.get(pk=job.pk).status_message
    gate.touch()


@pytest.mark.django_db(transaction=True)
def test_scheduler_restart_ends_the_job_in_error_within_the_grace(
        dask_processes, make_dask_job, settings, tmp_path):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 1}
    processes = _cluster(dask_processes)
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=_row(processes))
    job.execute(work.nap_until_file, str(gate))
    wait_until(lambda: _state(job) == "processing", message="the task to run")
    processes.stop_scheduler()
    job.refresh_from_scheduler()  # the scheduler is gone: transient, not terminal
    assert job.cached_status == "Running"
    assert processes.address in DaskJob.objects.get(pk=job.pk).status_message
    processes.start_scheduler()  # same address, no memory of the task
    assert _poll(job, timeout=60) == "Error"
    assert "no longer knows this job" in DaskJob.objects.get(pk=job.pk).status_message
    gate.touch()
    # The same process keeps working with the restarted scheduler.
    processes.start_worker()
    processes.wait_for_workers(1)
    again = make_dask_job(name="after restart", scheduler=job.scheduler)
    again.execute(work.inc, 1)
    assert _poll(again) == "Complete"


@pytest.mark.django_db(transaction=True)
def test_web_side_client_dropped_then_back(dask_processes, make_dask_job, tmp_path):
    processes = _cluster(dask_processes)
    gate = tmp_path / "gate"
    job = make_dask_job(scheduler=_row(processes))
    job.execute(work.nap_until_file, str(gate), "kept")
    wait_until(lambda: _state(job) == "processing", message="the task to run")
    with clients.connection(processes.address) as client:
        clients_before = client.run_on_scheduler(work.client_names)
    clients.close_all()  # as when the web process restarts
    assert clients.open_addresses() == []
    gate.touch()

    def without_our_client():
        with own_client(processes.address) as probe:
            names = probe.run_on_scheduler(work.client_names)
            state = probe.sync(probe.scheduler.get_task_status, keys=[job.key])[job.key]
        return state == "memory" and len(names) < len(clients_before) + 1

    wait_until(without_our_client, message="the task to finish with no web client")
    job = DaskJob.objects.get(pk=job.pk)  # a fresh process would load it like this
    assert _poll(job) == "Complete"
    assert DaskJob.objects.get(pk=job.pk).result == "kept"


@pytest.mark.django_db(transaction=True)
def test_outcome_found_after_the_submitting_process_exited(dask_processes):
    processes = _cluster(dask_processes)
    key = tasks.new_key("add")
    script = (
        "from tests.engines.dask import work\n"
        "from tethys_compute.engines.dask import clients, tasks\n"
        f"with clients.connection({processes.address!r}) as c:\n"
        f"    tasks.submit(c, work.nap, 0.5, 'from a process that exited', key={key!r})\n"
    )
    run_python(script)
    with clients.connection(processes.address) as client:
        wait_until(lambda: tasks.task_states(client, [key], 5)[key] == "memory",
                   message="the orphaned task to finish")
        assert tasks.gather(client, [key], 10) == {key: "from a process that exited"}
        tasks.release(client, [key])


@pytest.mark.django_db(transaction=True)
def test_200_jobs_keep_connections_bounded(dask_processes, make_dask_job):
    processes = _cluster(dask_processes)
    scheduler = _row(processes)
    first = make_dask_job(name="warm-up", scheduler=scheduler)
    first.execute(work.inc, 0)
    assert _poll(first) == "Complete"
    with clients.connection(processes.address) as client:
        scheduler_clients = len(client.run_on_scheduler(work.client_names))
    baseline = len(tcp_connections_to(processes.port))
    peak = baseline
    jobs = []
    for i in range(200):
        job = make_dask_job(name=f"loop {i}", scheduler=scheduler)
        job.execute(work.inc, i)
        jobs.append(job)
        if i % 10 == 0:
            refresh_jobs(TethysJob.objects.active().select_subclasses())
            peak = max(peak, len(tcp_connections_to(processes.port)))
    wait_until(lambda: refresh_jobs(TethysJob.objects.active().select_subclasses())
               and not TethysJob.objects.active().exists(), timeout=120,
               message="all 200 jobs to finish")
    peak = max(peak, len(tcp_connections_to(processes.port)))
    results = dict(DaskJob.objects.filter(pk__in=[j.pk for j in jobs])
                   .values_list("name", "result"))
    assert results == {f"loop {i}": i + 1 for i in range(200)}
    assert baseline <= 4, baseline
    assert peak <= baseline + 2, (baseline, peak)
    assert clients.open_addresses() == [processes.address]
    with clients.connection(processes.address) as client:
        assert len(client.run_on_scheduler(work.client_names)) == scheduler_clients
