"""Refreshing the status of N active HTCondor jobs: command invocations and time.

Run:  python benchmarks/condor_refresh.py [N]     (default N=500, SQLite, the HTCondor
stand-in of tests/htcondor_standin on this machine)

N CondorJobs are submitted (50 run, the rest wait Idle: all are active). Then:

* baseline, Tethys's way: each job asks for its own status (condorpy's ``Job.status``:
  ``condor_q <id> && condor_history <id>``, two tool runs per job);
* ours: ``CondorJob.bulk_update_status(jobs)``, what the monitor and the jobs table call:
  one ``condor_q`` for all of them, plus one ``condor_history`` only when some cluster
  left the queue.

Both are measured twice: all N jobs in the queue, and after half of them left it
(removed, so they are answered by condor_history). Tool runs are counted by the stand-in
(every wrapper appends its name to ``calls.log``). Target (issue 4): 2 invocations for
the batch, not 2N.
"""

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _django import setup

SCRIPT = "#!/bin/sh\nsleep 600\n"


def main(n):
    scratch = setup()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test.utils import override_settings

    from tests.htcondor_standin import StandIn
    from tests.testapp.app import TestApp
    from tethys_compute.models import CondorJob
    from tethys_compute.monitor import refresh_jobs

    pool = StandIn(Path(tempfile.mkdtemp(prefix="tethys-bench-pool-")), slots=50).install()
    os.environ["PATH"] = pool.path_env()
    override_settings(TETHYS_COMPUTE={**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 0.001,
                                      "WORKSPACES_ROOT": str(scratch / "workspaces")}).enable()
    user = get_user_model().objects.create_user("bench")
    manager = TestApp.get_job_manager()
    try:
        jobs = []
        for i in range(n):
            job = manager.create_job(f"job {i}", user, job_type="CONDORJOB",
                                     condorpy_template_name="vanilla_base",
                                     attributes={"executable": "run.sh"})
            job.save()
            (Path(job.workspace) / "run.sh").write_text(SCRIPT)
            (Path(job.workspace) / "run.sh").chmod(0o755)
            jobs.append(job)

        def execute(job):
            try:
                job.execute()
            finally:
                connections.close_all()

        start = time.perf_counter()
        with ThreadPoolExecutor(4) as threads:
            list(threads.map(execute, jobs))
        submit_seconds = time.perf_counter() - start
        failed = CondorJob.objects.exclude(_status="SUB").count()
        print(f"submitted {n} jobs in {submit_seconds:.1f} s ({failed} not Submitted)")
        time.sleep(0.5)

        def baseline():
            """Each job's own condorpy status query (Tethys's CondorBase._update_status)."""
            for job in CondorJob.objects.all():
                job.condor_object.status  # noqa: B018

        def ours():
            return CondorJob.bulk_update_status(list(CondorJob.objects.all()))

        def measure(fn):
            pool.reset_calls()
            start = time.perf_counter()
            fn()
            seconds = time.perf_counter() - start
            calls = [c for c in pool.calls() if c in ("condor_q", "condor_history")]
            return seconds, len(calls)

        rows = [("all queued", measure(baseline), measure(ours))]
        removed = [str(job.cluster_id) for job in CondorJob.objects.all()[: n // 2]]
        pool.run("condor_rm", *removed)
        assert pool.wait_until_empty(1) is False  # the other half is still queued
        time.sleep(0.5)
        rows.append(("half in history", measure(baseline), measure(ours)))
        pool.reset_calls()
        stats = refresh_jobs(CondorJob.objects.all())
        monitor_calls = len([c for c in pool.calls() if c in ("condor_q", "condor_history")])

        print()
        print(f"| {n} active jobs | baseline s | baseline tool runs | ours s | ours tool runs | "
              "time ratio |")
        print("|---|---|---|---|---|---|")
        for name, (base_s, base_calls), (ours_s, ours_calls) in rows:
            print(f"| {name} | {base_s:.2f} | {base_calls} | {ours_s:.3f} | {ours_calls} | "
                  f"{base_s / ours_s:.0f}x |")
        print()
        print(f"monitor.refresh_jobs over the same jobs: {monitor_calls} tool runs "
              f"({stats.checked} checked)")
    finally:
        pool.run("condor_rm", "-all")
        pool.shutdown()
        shutil.rmtree(pool.root, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
