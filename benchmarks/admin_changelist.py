"""Job admin changelist on 10,000 jobs: queries and render time per page.

Compares tethys_compute's JobAdmin (rows as their own classes, cached status, filters,
date hierarchy) with Django's plain ModelAdmin on the same table (base rows, ``__str__``
only), in the same run on the same database.

Run from the repository root, on an in-memory SQLite database::

    python benchmarks/admin_changelist.py [N_JOBS]

or on PostgreSQL (a throwaway server)::

    TC_SUBPROCESS_DB=tethys_compute .ci/with-postgres python benchmarks/admin_changelist.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.management.subprocess_settings")
os.environ.setdefault("TC_SUBPROCESS_DB", ":memory:")
os.environ.setdefault("TETHYS_TEST_WORKSPACES", "/tmp/tethys-compute-bench-workspaces")

import django  # noqa: E402

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.messages.storage.cookie import CookieStorage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tethys_compute.admin import JobAdmin  # noqa: E402
from tethys_compute.models import DaskScheduler, TethysJob  # noqa: E402

N_JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
REPEAT = 7


def seed(user):
    TethysJob.objects.bulk_create(
        [TethysJob(name=f"job {i}", user=user, label="bench_app",
                   _status=("COM", "RUN", "ERR", "PEN")[i % 4]) for i in range(N_JOBS)],
        batch_size=2000)
    ids = list(TethysJob.objects.values_list("pk", flat=True))
    scheduler = DaskScheduler.objects.create(name="bench", host="tcp://127.0.0.1:1")
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO tethys_compute_basicjob (tethysjob_ptr_id) VALUES (%s)",
                           [(pk,) for pk in ids[0::2]])
        cursor.executemany(
            "INSERT INTO tethys_compute_daskjob (tethysjob_ptr_id, key, scheduler_id, forget) "
            "VALUES (%s, %s, %s, %s)", [(pk, f"k{pk}", scheduler.pk, False) for pk in ids[1::2]])


def measure(model_admin, user, query):
    factory = RequestFactory()
    times, queries = [], None
    for _ in range(REPEAT + 1):
        request = factory.get("/admin/tethys_compute/tethysjob/" + query)
        request.user = user
        request._messages = CookieStorage(request)
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            model_admin.changelist_view(request).render()
            times.append(time.perf_counter() - start)
        queries = len(captured.captured_queries)
    return statistics.median(times[1:]), queries  # the first render warms caches


def main():
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", "b@example.org", None)
    seed(user)
    ours = JobAdmin(TethysJob, admin.site)
    plain = admin.ModelAdmin(TethysJob, admin.site)
    print(f"{N_JOBS} jobs, median of {REPEAT} renders ({connection.vendor})")
    print(f"{'page':<24}{'JobAdmin ms':>12}{'queries':>9}{'plain ms':>10}{'queries':>9}"
          f"{'ratio':>7}")
    for label, query in (("first", ""), ("middle", f"?p={N_JOBS // 200}"),
                         ("last", f"?p={N_JOBS // 100 - 1}"),
                         ("filtered: active", "?status=active")):
        ours_t, ours_q = measure(ours, user, query)
        plain_q_string = "" if query.startswith("?status") else query
        plain_t, plain_q = measure(plain, user, plain_q_string)
        print(f"{label:<24}{ours_t * 1000:>12.1f}{ours_q:>9}{plain_t * 1000:>10.1f}"
              f"{plain_q:>9}{ours_t / plain_t:>7.2f}")


if __name__ == "__main__":
    main()
