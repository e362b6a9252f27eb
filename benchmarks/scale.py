"""Jobs at scale: timings, query counts and the slowest query's plan of the operations a
site runs on every page view, on a large jobs database (issue 17).

The database (see ``scale_build.py``: every job type, workflow nodes, status history,
1000 users) is built once and kept (SQLite, WAL). Run from the repository root::

    python benchmarks/scale.py                 # 100,000 jobs, /tmp/tethys-compute-scale-v2-100000.sqlite3
    python benchmarks/scale.py --jobs 1000000  # 1,000,000 jobs (built once, then cached)
    PGPORT=55450 .ci/with-postgres python benchmarks/scale.py   # PostgreSQL (built each run)
    python benchmarks/scale.py --jobs 1000000 --pg-dir /tmp/tc-scale-pg  # PostgreSQL, kept
    python benchmarks/scale.py --only admin    # the operations whose name contains "admin"

``--pg-dir DIR`` keeps the PostgreSQL database between runs: the script starts a server
from the data directory ``DIR/data`` (made with ``initdb`` on first use) listening on a
Unix socket in ``DIR`` only (no TCP port), builds the jobs into the database ``scale_v<VERSION>_<jobs>`` only if it is
not there yet, and stops the server at exit, keeping ``DIR``. Delete ``DIR`` to start
again. On PostgreSQL the build loads with ``COPY``, makes the secondary indexes after
the load and runs ``VACUUM ANALYZE`` (see ``scale_build.py``); every run then runs
``ANALYZE``, as a live site's autovacuum keeps statistics.

Each operation prints its median time over ``--repeat`` runs (after one warm-up), the
CPU time of this process (Django's side: less disturbed by a loaded machine; the
database server's time is in the slowest query's plan with ``--analyze``), its number
of queries, and the plan of its slowest query (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN`` on PostgreSQL; ``--analyze``: ``EXPLAIN (ANALYZE, BUFFERS)``).
"""

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_build import VERSION, build  # noqa: E402
from scale_operations import operations  # noqa: E402


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="SQLite file (default in /tmp, kept)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="run the operations whose name has this")
    parser.add_argument("--pg-dir", default=None,
                        help="PostgreSQL data kept here between runs (server on a socket in it)")
    parser.add_argument("--analyze", action="store_true",
                        help="PostgreSQL: show EXPLAIN (ANALYZE, BUFFERS) of the slowest query")
    return parser.parse_args()


def setup(args):
    sys.path.insert(0, str(ROOT))
    if args.pg_dir:
        from _postgres import kept_server

        kept_server(args.pg_dir, f"scale_v{VERSION}_{args.jobs}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    path = args.db or f"/tmp/tethys-compute-scale-v{VERSION}-{args.jobs}.sqlite3"
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


ANALYZE_PLANS = False


def plan(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if ANALYZE_PLANS else "EXPLAIN ") + sql)
        return [row[0] for row in cursor.fetchall()]


RESULTS: list = []
#: Plan lines left out: the LEFT JOINs of the job types' tables (select_subclasses), each
#: a search by primary key.
SUBCLASS_JOINS = re.compile(
    r"LEFT-JOIN|Left Join|Right Join|Join Filter|Hash Cond|testapp_|"
    r"(basicjob|condorbase|condorjob|condorpyjob|condorworkflow|condorpyworkflow|daskjob)"
    r"(?!node)\b|Seq Scan on (auth_user|tethys_compute_(dask|basic|condor)\w*job)\b")


def measure(name, operation, repeat):
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    operation()  # warm-up
    times, cpu = [], []
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            operation()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    RESULTS.append((name, statistics.median(times) * 1000, statistics.median(cpu) * 1000,
                    len(captured.captured_queries)))
    print(f"\n{name}: {statistics.median(times) * 1000:.1f} ms "
          f"({statistics.median(cpu) * 1000:.1f} ms CPU of this process), "
          f"{len(captured.captured_queries)} queries; slowest ({float(slowest['time']) * 1000:.1f}"
          f" ms): {slowest['sql'][:160]}...")
    for line in plan(slowest["sql"]):
        if not SUBCLASS_JOINS.search(line):
            print(f"    {line}")




def main():
    global ANALYZE_PLANS
    args = parse()
    ANALYZE_PLANS = args.analyze
    setup(args)
    build(args.jobs)
    from django.db import connection

    if connection.vendor == "postgresql":
        # Statistics, as autovacuum keeps them on a live server: without them the planner
        # guesses 7 rows per label and reads a whole app through tc_job_label_user.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    from tethys_compute.models import TethysJob

    print(f"{TethysJob.objects.count()} jobs, {connection.vendor}, median of {args.repeat}")
    for name, operation in operations().items():
        if args.only in name:
            measure(name, operation, args.repeat)
    print(f"\nload average {os.getloadavg()[0]:.1f}\n"
          "\n| operation | ms | client CPU ms | queries |\n|---|---:|---:|---:|")
    for name, ms, cpu_ms, count in RESULTS:
        print(f"| {name} | {ms:.1f} | {cpu_ms:.1f} | {count} |")


if __name__ == "__main__":
    main()
