"""One monitor cycle over N active jobs on three schedulers: time, engine queries, writes.

Run:  python benchmarks/monitor_cycle.py [N] [--profile]    (default N=10000, SQLite file)

Built once per run (not timed):

* two HTCondor schedulers (``CondorScheduler`` rows for ``localhost``: both reach the
  HTCondor stand-in of tests/htcondor_standin on this machine, one pool, so each is
  asked on its own) with N/3 CondorJobs each, every one its own cluster submitted
  through the stand-in's ``condor_submit`` logic (in this process: a tool run per job
  would take ten minutes); the stand-in's schedd runs ``--slots`` of them (``sleep``),
  the rest wait Idle;
* one Dask scheduler (a ``LocalCluster`` on 127.0.0.1, one worker, two threads) with
  the other N/3 DaskJobs, each one task held by this script's client; two run, the rest
  are queued.

All jobs are stored Submitted (HTCondor) / Running (Dask), with statuses old enough to be
due. Then ``monitor.run_cycle(batch_size=N)`` runs once, and again at once (nothing
changed: no job should be written). Reported: seconds, SQL statements and writes (in
this connection), engine queries per scheduler (``condor_q``/``condor_history`` runs
counted by the stand-in, ``get_task_status`` calls counted here), jobs changed; the
baseline is the bare query that loads the same active jobs as their own classes.
``--profile`` prints the cycle's top functions (cProfile, cumulative).
"""

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

from _django import QueryCounter, setup

SUBMIT = """universe = vanilla
executable = /bin/sleep
arguments = 600
log = {log}
queue 1
"""


def block(_, release):
    """A task that runs until the file ``release`` exists (the end of the run)."""
    import os
    import time

    while not os.path.exists(release):
        time.sleep(0.05)


def queue_clusters(pool, count, cwd):
    """Queue ``count`` single-job clusters in the stand-in pool, as ``count`` runs of its
    ``condor_submit`` would (the same ads, one write transaction); their ClusterIds."""
    from tests.htcondor_standin import submitter
    from tests.htcondor_standin.state import Queue

    text = SUBMIT.format(log=Path(cwd) / "condor.log")
    statements = submitter.parse(text, ())
    macros = {s[1]: s[2] for s in statements if s[0] == "set"}
    attrs = {s[1]: s[2] for s in statements if s[0] == "attr"}
    ids = []
    with Queue(pool.state) as queue, queue.write():
        for _ in range(count):
            cluster = queue.next_cluster()
            queue.insert(submitter._build_ad(macros, attrs, Path(cwd).resolve(), cluster, 0,
                                             None))
            ids.append(cluster)
    submitter.ensure_schedd(pool.state)
    return ids


#: The cycle's parts, by the function that does each (file suffix, function name).
PARTS = (
    ("walltime step (stop_overdue_runs)", "models/run_limits.py", "stop_overdue_runs"),
    ("due retries (start_due_retries)", "models/retries.py", "start_due_retries"),
    ("claim the jobs (leases.claim)", "tethys_compute/leases.py", "claim"),
    ("load the jobs (select_subclasses rows)", "models/subclass_rows.py", "_rows"),
    ("condor_q / condor_history runs (wall)", "condor/engine.py", "_run_query"),
    ("Dask state query (get_task_status)", "engines/dask/tasks.py", "task_states"),
    ("stamps of unchanged jobs (flush)", "models/status_stamps.py", "flush"),
    ("release the leases", "tethys_compute/leases.py", "release"),
)


def breakdown(stats, seconds):
    """Print the cycle's time per part (cProfile cumulative seconds; the profiler itself
    adds to the Python parts, not to the waits on the condor tools)."""
    found = {}
    for (path, _line, name), row in stats.stats.items():
        for label, suffix, function in PARTS:
            if name == function and path.endswith(suffix):
                found[label] = found.get(label, 0.0) + row[3]
    job_status = sum(row[3] for (path, _line, name), row in stats.stats.items()
                     if name == "_refresh_from_engine" and path.endswith("job_status.py"))
    dask_rules = sum(row[3] for (path, _line, name), row in stats.stats.items()
                     if name == "_apply" and path.endswith("dask_refresh.py"))
    print(f"\nwhere the {seconds:.2f} s went (cProfile, cumulative):")
    for label, _suffix, _function in PARTS:
        if label in found:
            print(f"  {label:<42} {found[label]:7.2f} s")
    print(f"  {'status rules, every job (_refresh_from_engine)':<42} {job_status:7.2f} s")
    print(f"  {'Dask jobs, per job with its savepoint (_apply)':<42} {dask_rules:7.2f} s")


def main(n, slots, profile):
    scratch = setup()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from distributed import Client, LocalCluster, wait
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test.utils import override_settings
    from django.utils import timezone

    from tests.htcondor_standin import StandIn
    from tethys_compute import monitor
    from tethys_compute.engines.dask import clients, tasks
    from tethys_compute.models import (
        CondorJob,
        CondorScheduler,
        DaskJob,
        DaskScheduler,
        TethysJob,
    )

    pool = StandIn(Path(tempfile.mkdtemp(prefix="tethys-bench-pool-")), slots=slots).install()
    os.environ["PATH"] = pool.path_env()
    override_settings(TETHYS_COMPUTE={
        **settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 0.001,
        "DASK_UPDATE_STATUS_INTERVAL": 0.001, "MONITOR_BATCH_SIZE": n,
        "WORKSPACES_ROOT": str(scratch / "workspaces")}).enable()
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, host="127.0.0.1",
                           dashboard_address=None, processes=True)
    client = Client(cluster)
    release = scratch / "release-tasks"
    user = get_user_model().objects.create_user("bench")
    futures = []
    try:
        condor = [CondorScheduler.objects.create(name=f"condor {i}", host="localhost")
                  for i in (1, 2)]
        dask = DaskScheduler.objects.create(name="dask", host=cluster.scheduler_address)
        start, build_cpu = time.perf_counter(), time.process_time()
        per = n // 3
        long_ago = timezone.now() - timedelta(hours=1)
        with transaction.atomic():
            jobs = []
            for i in range(n):
                which = i % 3
                if which < 2:
                    job = CondorJob(name=f"condor {i}", user=user, label="testapp",
                                    scheduler=condor[which], workspace=str(scratch),
                                    condorpy_template_name="vanilla_base",
                                    attributes={"executable": "/bin/sleep"})
                else:
                    job = DaskJob(name=f"dask {i}", user=user, label="testapp",
                                  scheduler=dask, workspace=str(scratch))
                job.save()
                jobs.append(job)
        condor_jobs = [job for job in jobs if isinstance(job, CondorJob)]
        dask_jobs = [job for job in jobs if isinstance(job, DaskJob)]
        clusters = queue_clusters(pool, len(condor_jobs), scratch)
        keys = [f"block-{job.pk:032x}" for job in dask_jobs]
        futures = client.map(block, range(len(keys)), key=keys, pure=False,
                             release=str(release))
        with transaction.atomic():
            for job, cluster_id in zip(condor_jobs, clusters, strict=True):
                CondorJob.objects.filter(pk=job.pk).update(
                    cluster_id=cluster_id, _status="SUB", execute_time=long_ago,
                    _last_status_update=long_ago)
            for job, key in zip(dask_jobs, keys, strict=True):
                DaskJob.objects.filter(pk=job.pk).update(
                    key=key, _status="RUN", execute_time=long_ago,
                    _last_status_update=long_ago)
        print(f"built {n} jobs ({per} per scheduler) in {time.perf_counter() - start:.1f} s "
              f"({time.process_time() - build_cpu:.1f} s CPU in this process)")
        time.sleep(2)  # the stand-in's schedd starts its slots' jobs

        base_cpu = time.process_time()
        started = time.perf_counter()
        loaded = list(TethysJob.objects.active().select_subclasses())
        base_seconds = time.perf_counter() - started
        base_cpu = time.process_time() - base_cpu
        assert len(loaded) == n, len(loaded)

        dask_calls = []
        real = tasks.task_states

        def counted(client, keys, timeout):
            dask_calls.append(len(keys))
            return real(client, keys, timeout)

        rows_done = []

        def cycle():
            pool.reset_calls()
            dask_calls.clear()
            with mock.patch.object(tasks, "task_states", counted), QueryCounter() as q:
                profiler = cProfile.Profile() if profile else None
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = time.process_time()
                started = time.perf_counter()
                if profiler:
                    profiler.enable()
                stats = monitor.run_cycle(batch_size=n)
                if profiler:
                    profiler.disable()
                seconds = time.perf_counter() - started
                cpu = time.process_time() - cpu
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                tools_cpu = (after.ru_utime + after.ru_stime
                             - children.ru_utime - children.ru_stime)
            tools = [c for c in pool.calls() if c in ("condor_q", "condor_history")]
            if profiler:
                profiler.dump_stats(f"/tmp/monitor_cycle_{len(rows_done)}.prof")
                stats_ = pstats.Stats(profiler)
                stats_.sort_stats("cumulative").print_stats(30)
                breakdown(stats_, seconds)
            rows_done.append(1)
            return seconds, q, tools, list(dask_calls), stats, cpu, tools_cpu

        rows = [("first cycle", cycle())]
        TethysJob.objects.update(_last_status_update=long_ago)  # due again, nothing new
        rows.append(("second cycle (nothing new)", cycle()))

        print()
        print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
        print(f"| {n} active jobs, 3 schedulers | s | CPU s: this process + condor tools | "
              "SQL statements | writes | condor tool runs | Dask state queries | checked | "
              "changed |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| baseline: load the active jobs with `select_subclasses()` | {base_seconds:.2f} "
              f"| {base_cpu:.2f} | 1 | 0 | | | | |")
        for name, (seconds, q, tools, dask_q, stats, cpu, tools_cpu) in rows:
            print(f"| `run_cycle` {name} | {seconds:.2f} | {cpu:.2f} + {tools_cpu:.2f} | "
                  f"{q.total} | {q.writes} | {len(tools)} ({', '.join(tools)}) | "
                  f"{len(dask_q)} | {stats.checked} | {stats.changed} |")
    finally:
        # In this order, so the run ends without a traceback: the tasks end (rather than
        # being cancelled under a closing worker), then every client (the monitor's own,
        # cached by tethys_compute, would otherwise try to reconnect to the closed
        # scheduler at exit), then the cluster.
        release.touch()
        if futures:
            wait(futures, timeout=60)
        clients.close_all()
        client.close()
        cluster.close()
        pool.run("condor_rm", "-all")
        pool.shutdown()
        shutil.rmtree(pool.root, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    main(args.n, args.slots, args.profile)
