"""N tiny DaskJobs driven to Complete, against the same N tasks through plain Dask.

Run:  python benchmarks/dask_jobs.py [N ...]     (default N = 200 1000, SQLite)

For each N, on one cluster: a ``dask scheduler`` and a ``dask worker`` (2 threads) in
their own processes on 127.0.0.1, as a site runs them (``--cluster local``: an in-process
``LocalCluster`` instead, whose scheduler then competes with the web side for the GIL):

* raw Dask: ``client.submit(inc, i, pure=False)`` for i < N, then ``client.gather``;
  measured before and after the jobs, the mean is the baseline;
* tethys_compute: ``JobManager.create_job(..., job_type="DASK")`` + ``execute(inc, i)``
  for each job (and, in a second pass, the way Tethys's docs show: ``create_job`` ->
  ``save()`` -> ``execute(dask.delayed(inc)(i))``), then the monitor's batch refresh
  (``refresh_jobs(TethysJob.objects.active().select_subclasses())``) until no job is
  active: status, result gathering, storage of each result and release of each task.

Every job must end Complete with its own correct result. Printed: seconds, the ratio to
raw Dask (targets: <= 1.5 for ``execute(f, x)``, <= 2 for the
Tethys pattern), and database queries per job (target: the same for every N); and, as
a check that holds better on a busy machine than wall time, the CPU seconds this
process spent on each side (with ``--cluster local`` they include the scheduler's).
"""

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time

from _django import ROOT, QueryCounter, setup


def inc(x):
    return x + 1


#: ``--profile``: one ``cProfile.Profile`` for the submit loops, one for the refreshes.
PROFILES: dict = {}


def print_profiles(limit=25):
    import pstats

    for phase, profile in PROFILES.items():
        print(f"\n--- cProfile of the {phase} phase (main thread; cumulative) ---")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(limit)


def raw_dask(client, n, cpu=None):
    """Seconds for ``n`` tasks through ``client.submit`` + ``gather``; the CPU seconds of
    this process (its web side and, with ``--cluster local``, the scheduler) are
    appended to ``cpu`` when given."""
    cpu_start, start = time.process_time(), time.perf_counter()
    futures = [client.submit(inc, i, pure=False) for i in range(n)]
    results = client.gather(futures)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(time.process_time() - cpu_start)
    assert results == [i + 1 for i in range(n)], "raw Dask gave wrong results"
    del futures
    return elapsed


def dask_jobs(manager, user, scheduler, n, label, push=False, tethys_pattern=False):
    """``tethys_pattern``: as Tethys's docs show, ``create_job`` -> ``save()`` ->
    ``execute(dask.delayed(inc)(i))``; else ``create_job`` -> ``execute(inc, i)``."""
    import dask

    from tethys_compute.models import DaskJob, TethysJob
    from tethys_compute.monitor import refresh_jobs

    submit_profile, refresh_profile = PROFILES.get("submit"), PROFILES.get("refresh")
    cpu_start = time.process_time()
    with QueryCounter() as submit_q, submit_profile or contextlib.nullcontext():
        start = time.perf_counter()
        jobs = []
        for i in range(n):
            job = manager.create_job(f"{label}-{i}", user, job_type="DASK", scheduler=scheduler)
            if tethys_pattern:
                job.save()
                job.execute(dask.delayed(inc, pure=False)(i))
            else:
                job.execute(inc, i)
            jobs.append(job)
        submitted = time.perf_counter()
    cpu_submitted = time.process_time()
    refreshes = 0
    with QueryCounter() as refresh_q, refresh_profile or contextlib.nullcontext():
        deadline = time.monotonic() + 300
        while True:
            if push:  # the plugin's reports complete the jobs; only watch
                ids = [job.pk for job in jobs]
                if DaskJob.objects.filter(pk__in=ids, completion_time__isnull=False).count() == n:
                    break
                time.sleep(0.01)
            else:
                active = list(TethysJob.objects.active().select_subclasses())
                if not active:
                    break
                refresh_jobs(active)
                refreshes += 1
            assert time.monotonic() < deadline, "jobs did not finish in 300 s"
        done = time.perf_counter()
    cpu = time.process_time() - cpu_start
    refresh_cpu = cpu - (cpu_submitted - cpu_start)
    rows = DaskJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list(
        "name", "_status", "result"
    )
    wrong = [(name, status, result) for name, status, result in rows
             if status != "COM" or result != int(name.rsplit("-", 1)[1]) + 1]
    assert len(rows) == n and not wrong, f"{len(wrong)} jobs wrong, e.g. {wrong[:3]}"
    return {
        "total": done - start,
        "cpu": cpu,
        "refresh_cpu": refresh_cpu,
        "submit": submitted - start,
        "refresh": done - submitted,
        "refreshes": refreshes,
        "submit_q": submit_q.total / n,
        "refresh_q": refresh_q.total / n,
        "writes": (submit_q.writes + refresh_q.writes) / n,
    }


@contextlib.contextmanager
def live_server():
    """The test project served on 127.0.0.1 (one request at a time); yields its URL."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

    class Thread(LiveServerThread):
        def _create_server(self, connections_override=None):
            return WSGIServer((self.host, self.port), QuietWSGIRequestHandler,
                              allow_reuse_address=False)

    thread = Thread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


@contextlib.contextmanager
def cli_cluster(tethys_host=None):
    """``dask scheduler`` (with the tethys_compute plugin reporting to ``tethys_host``,
    when given) + ``dask worker`` processes on 127.0.0.1; yields the address."""
    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    plugin = ["--preload", "tethys_compute.engines.dask.plugin", "--tethys-host",
              tethys_host] if tethys_host else []
    scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host",
                                  "127.0.0.1", "--port", str(port), *common, *plugin], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--host",
                               "127.0.0.1", "--nthreads", "2", "--no-nanny", *common], **quiet)
    try:
        with Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextlib.contextmanager
def local_cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", scheduler_port=0,
                           dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False})
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def main(sizes, wal=False, cluster_kind="pair", push=False, profile=False):
    setup()
    if wal:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
    from django.contrib.auth import get_user_model

    from tests.testapp.app import TestApp
    from tethys_compute.engines.dask import clients
    from tethys_compute.models import DaskScheduler

    server = live_server() if push else contextlib.nullcontext()
    with server as url, (cli_cluster(url) if cluster_kind == "pair" else local_cluster()) as address:
        user = get_user_model().objects.create_user("bench")
        scheduler = DaskScheduler.objects.create(name="bench", host=address)
        manager = TestApp.get_job_manager()
        client = scheduler.client
        raw_dask(client, 200)  # warm-up: workers import, connections open
        dask_jobs(manager, user, scheduler, 100, "warmup", push=push)
        if profile:
            import cProfile

            PROFILES.update(submit=cProfile.Profile(), refresh=cProfile.Profile())
        rows = []
        for n in sizes:
            for pattern in ("execute(f, x)", "Tethys: save(); execute(delayed)"):
                raw_cpu = []
                raw_before = raw_dask(client, n, raw_cpu)
                ours = dask_jobs(manager, user, scheduler, n, f"n{n}{pattern[0]}", push=push,
                                 tethys_pattern=pattern.startswith("Tethys"))
                raw_after = raw_dask(client, n, raw_cpu)
                raw = statistics.mean([raw_before, raw_after])
                ours["raw_cpu"] = statistics.mean(raw_cpu)
                rows.append((n, pattern, raw_before, raw_after, raw, ours))
        clients.close_all()

    journal = "WAL, synchronous=NORMAL" if wal else "default rollback journal"
    where = "dask scheduler + worker processes" if cluster_kind == "pair" else "LocalCluster"
    how = "completed by the scheduler plugin's reports" if push else "batch polling"
    print(f"\nDask jobs vs raw Dask (SQLite {journal}; {where}; {how})\n")
    print("| N | jobs made with | raw Dask (s) | ms/task | DaskJobs (s) | submit (s) "
          "| refresh (s) | refreshes | ms/job | ratio | queries/job (submit + refresh) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, pattern, before, after, raw, ours in rows:
        print(
            f"| {n} | {pattern} | {raw:.2f} ({before:.2f}/{after:.2f}) | "
            f"{raw / n * 1000:.1f} "
            f"| {ours['total']:.2f} | {ours['submit']:.2f} | {ours['refresh']:.2f} "
            f"| {ours['refreshes']} | {ours['total'] / n * 1000:.1f} "
            f"| {ours['total'] / raw:.2f} "
            f"| {ours['submit_q']:.2f} + {ours['refresh_q']:.2f} |"
        )
    print("\nEvery job Complete with its correct result (checked).")
    print("\nTargets (issue 17 item 4), ratio = DaskJobs time / raw Dask time in this run:")
    for n, pattern, _before, _after, raw, ours in rows:
        target = 2.0 if pattern.startswith("Tethys") else 1.5
        ratio = ours["total"] / raw
        verdict = "met" if ratio <= target else "NOT met"
        print(f"  N={n} {pattern}: ratio {ratio:.2f}, target <= {target}: {verdict} "
              f"(CPU seconds of this process: {ours['cpu']:.2f} vs raw "
              f"{ours['raw_cpu']:.2f}, ratio {ours['cpu'] / ours['raw_cpu']:.2f}; of which "
              f"the refresh {ours['refresh_cpu']:.2f})")
    print(f"Load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print_profiles()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200, 1000])
    parser.add_argument("--wal", action="store_true",
                        help="SQLite in WAL mode with synchronous=NORMAL")
    parser.add_argument("--cluster", choices=("pair", "local"), default="pair")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the submit loops and the refreshes (not the warm-up) "
                             "and print both profiles at the end")
    parser.add_argument("--push", action="store_true",
                        help="no polling: the preloaded plugin's reports to a live server "
                             "complete the jobs (pair cluster only)")
    arguments = parser.parse_args()
    if arguments.push and arguments.cluster != "pair":
        parser.error("--push needs --cluster pair")
    main(arguments.sizes, wal=arguments.wal, cluster_kind=arguments.cluster,
         push=arguments.push, profile=arguments.profile)
