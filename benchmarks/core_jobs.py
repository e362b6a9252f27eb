"""Core job operations for N Basic jobs: create_job + save, status reads, list_jobs.

Run:  python benchmarks/core_jobs.py [N]     (default N=1000, SQLite)

Each figure is compared with a baseline run in the same process: Django's own cost for
the same rows (``Model.save`` of the same multi-table row without our status machinery,
reading the stored column, a plain queryset).
Targets (issue 2): at most 3 queries per created job; zero writes when reading the
status of an unchanged job.
"""

import sys
import time

from _django import QueryCounter, setup


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(n):
    setup()
    from django.contrib.auth import get_user_model
    from django.db import models

    from tests.testapp.app import TestApp
    from tethys_compute.models import BasicJob, TethysJob

    user = get_user_model().objects.create_user("bench")
    manager = TestApp.get_job_manager()

    def create_ours():
        for i in range(n):
            job = manager.create_job(f"run_{{id}}_{i}", user, job_type="BASIC")
            job.save()

    def create_baseline():
        for i in range(n):
            job = BasicJob(name=f"base_{i}", user=user, label="baseline", workspace="/tmp/x")
            models.Model.save(job)

    with QueryCounter() as base_q:
        base_t, _ = timed(create_baseline)
    with QueryCounter() as ours_q:
        ours_t, _ = timed(create_ours)

    jobs = list(manager.list_jobs(user))
    for job in jobs[: n // 2]:
        job.execute()
    jobs = list(manager.list_jobs(user))

    def read_status():
        return [job.status for job in jobs]

    def read_column():
        return [job._status for job in jobs]

    with QueryCounter() as status_q:
        status_t, statuses = timed(read_status)
    col_t, _ = timed(read_column)

    with QueryCounter() as list_q:
        list_t, listed = timed(lambda: list(manager.list_jobs(user)))
    with QueryCounter() as list_base_q:
        list_base_t, _ = timed(lambda: list(TethysJob.objects.filter(label="test_app", user=user)
                                            .order_by("id").select_subclasses()))

    assert len(listed) == n and statuses.count("Submitted") == n // 2
    rows = [
        ("create_job + save", ours_t, ours_q.total / n, base_t, base_q.total / n),
        ("status read (unchanged)", status_t, status_q.total / n, col_t, 0),
        ("list_jobs (all rows)", list_t, list_q.total, list_base_t, list_base_q.total),
    ]
    print(f"N = {n} Basic jobs, SQLite")
    print(f"{'operation':26} {'ours s':>8} {'queries':>9} {'baseline s':>11} {'queries':>9} {'ratio':>6}")
    for name, t, q, bt, bq in rows:
        ratio = t / bt if bt else float("inf")
        print(f"{name:26} {t:8.3f} {q:9.2f} {bt:11.3f} {bq:9.2f} {ratio:6.2f}")
    print(f"writes during {n} status reads: {status_q.writes}")
    print(f"queries per created job: {ours_q.total / n:.2f} (target <= 3), plus "
          f"{ours_q.transaction / n:.2f} transaction statements (BEGIN/COMMIT)")
    ok = ours_q.total / n <= 3 and status_q.writes == 0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
