"""Jobs at scale: timings, query counts and the slowest query's plan of the operations a
site runs on every page view, on a large jobs database (issue 17).

The database is built once and kept (SQLite, WAL): 1000 users in 10 groups, 3 apps, 2%
of the jobs active, 5% shared with a group, creation times spread over three years; its
rows are bulk-inserted (BasicJob rows). Run from the repository root::

    python benchmarks/scale.py                 # 100,000 jobs, /tmp/tethys-compute-scale-100000.sqlite3
    python benchmarks/scale.py --jobs 1000000  # 1,000,000 jobs (builds in a few minutes)
    PGPORT=55450 .ci/with-postgres python benchmarks/scale.py   # PostgreSQL (built each run)

Each operation prints its median time over ``--repeat`` runs (after one warm-up), its
number of queries, and the plan of its slowest query (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN`` on PostgreSQL).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USERS, GROUPS, APPS = 1000, 10, ("app_a", "app_b", "app_c")


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="SQLite file (default in /tmp, kept)")
    parser.add_argument("--repeat", type=int, default=5)
    return parser.parse_args()


def setup(args):
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    path = args.db or f"/tmp/tethys-compute-scale-{args.jobs}.sqlite3"
    os.environ.setdefault("TETHYS_TEST_SQLITE_FILE", path)
    os.environ.setdefault("TETHYS_TEST_WORKSPACES", "/tmp/tethys-compute-scale-workspaces")
    import django
    from django.conf import settings

    if os.environ.get("TETHYS_TEST_DB") != "postgres":
        settings.DATABASES["default"]["OPTIONS"] = {
            "timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    django.setup()
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(n_jobs):
    """Insert the users, groups and ``n_jobs`` jobs unless the database has them."""
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction
    from django.utils import timezone

    from tethys_compute.models import TethysJob

    have = TethysJob.objects.count()
    if have >= n_jobs:
        return False
    assert have == 0, f"a partly built database ({have} jobs): delete it and run again"
    start = time.perf_counter()
    groups = Group.objects.bulk_create([Group(name=f"group{g}") for g in range(GROUPS)])
    users = User.objects.bulk_create([User(username=f"user{u}") for u in range(USERS)])
    User.groups.through.objects.bulk_create([
        User.groups.through(user_id=u.pk, group_id=groups[i % GROUPS].pk)
        for i, u in enumerate(users)])
    User.objects.create_superuser("admin", "admin@example.org", "admin")
    created = TethysJob._meta.get_field("creation_time")
    created.auto_now_add = False  # spread over three years
    now = timezone.now()
    batch = 20_000
    try:
        for first in range(0, n_jobs, batch):
            with transaction.atomic():
                jobs = TethysJob.objects.bulk_create([
                    TethysJob(name=f"job {i}", description=f"run {i} of the study",
                              user_id=users[i % USERS].pk, label=APPS[i % len(APPS)],
                              _status="RUN" if i % 50 == 0 else ("COM", "ERR")[i % 7 == 0],
                              creation_time=now - timedelta(minutes=(n_jobs - i) * 1.5))
                    for i in range(first, min(first + batch, n_jobs))])
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO tethys_compute_basicjob (tethysjob_ptr_id) VALUES (%s)",
                        [(job.pk,) for job in jobs])
                TethysJob.groups.through.objects.bulk_create([
                    TethysJob.groups.through(tethysjob_id=job.pk,
                                             group_id=groups[(job.pk // 20) % GROUPS].pk)
                    for job in jobs if job.pk % 20 == 1])
            print(f"  built {min(first + batch, n_jobs)} jobs", file=sys.stderr, end="\r")
    finally:
        created.auto_now_add = True
    print(f"built {n_jobs} jobs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return True


def plan(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN " + sql)
        return [row[0] for row in cursor.fetchall()]


def measure(name, operation, repeat):
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    operation()  # warm-up
    times = []
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            operation()
            times.append(time.perf_counter() - start)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"\n{name}: {statistics.median(times) * 1000:.1f} ms, "
          f"{len(captured.captured_queries)} queries; slowest ({float(slowest['time']) * 1000:.1f}"
          f" ms): {slowest['sql'][:160]}...")
    for line in plan(slowest["sql"]):
        print(f"    {line}")


def main():
    args = parse()
    setup(args)
    build(args.jobs)
    from django.db import connection

    if connection.vendor == "postgresql":
        # Statistics, as autovacuum keeps them on a live server: without them the planner
        # guesses 7 rows per label and reads a whole app through tc_job_label_user.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.job_manager import JobManager
    from tethys_compute.models import TethysJob

    class App:
        package = "app_b"

    manager = JobManager(App())
    user = User.objects.get(username="user7")  # in group7; app_b has their jobs
    some_job = manager.list_jobs(user=user).order_by("-id").first()
    active = list(manager.list_jobs().filter(_status="RUN").order_by("-id")[:25])
    token = JobsTable(jobs=active, column_fields=["id", "name"]).table_config().dumps()
    poll_body = {"config": token, "rows": {str(job.pk): "x" for job in active}}
    poller = Client()
    poller.force_login(User.objects.get(is_superuser=True))
    # A user who sees active jobs of app_b through a group only (not theirs).
    shared = TethysJob.objects.filter(label="app_b", _status="RUN", groups__isnull=False)
    group = shared.values_list("groups", flat=True).first()
    member = User.objects.filter(groups=group, is_superuser=False).first()
    group_poller = Client()
    group_poller.force_login(member)
    shared_active = list(TethysJob.objects.filter(label="app_b", _status="RUN")
                         .visible_to(member).order_by("-id")[:25])
    assert shared_active, "no active job shared with a group"
    shared_token = JobsTable(jobs=shared_active, column_fields=["id", "name"]).table_config().dumps()
    shared_body = {"config": shared_token, "rows": {str(j.pk): "x" for j in shared_active}}
    admin = Client()
    admin.force_login(User.objects.get(is_superuser=True))
    changelist = reverse("admin:tethys_compute_tethysjob_changelist")
    poll_url = reverse("jobs_table_poll")

    def ok(response):
        assert response.status_code == 200, response.status_code
        return response

    print(f"{TethysJob.objects.count()} jobs, {connection.vendor}, median of {args.repeat}")
    operations = {
        "list_jobs(user)[:25]": lambda: list(manager.list_jobs(user=user)[:25]),
        "list_jobs()[:25] (whole app, by id)": lambda: list(manager.list_jobs()[:25]),
        "list_jobs(order_by='-creation_time')[:25]":
            lambda: list(manager.list_jobs(order_by="-creation_time")[:25]),
        "TethysJob.objects.active()[:25]": lambda: list(TethysJob.objects.active()[:25]),
        "get_job(id, user)": lambda: manager.get_job(some_job.pk, user=user),
        "poll of 25 active rows (permission holder)": lambda: ok(poller.post(
            poll_url, poll_body, content_type="application/json")),
        "poll of 25 active rows (user in a group)": lambda: ok(group_poller.post(
            poll_url, shared_body, content_type="application/json")),
        "admin changelist page 1": lambda: ok(admin.get(changelist)),
        "admin changelist ?status=active": lambda: ok(admin.get(changelist + "?status=active")),
        "admin changelist ?q=job 4242": lambda: ok(admin.get(changelist + "?q=job+4242")),
        "admin changelist ?creation_time__year=<this year>": lambda: ok(admin.get(
            changelist + f"?creation_time__year={some_job.creation_time.year}")),
    }
    for name, operation in operations.items():
        measure(name, operation, args.repeat)


if __name__ == "__main__":
    main()
