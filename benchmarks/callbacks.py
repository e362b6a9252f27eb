"""Benchmark of the status callback endpoints: N hits of each through Django's full
request stack (test client: middleware, URL resolving, view, JSON), with SQL statements
counted.

    python benchmarks/callbacks.py [N]        (default 1000; TETHYS_TEST_DB=postgres too)

Ours:
* update-job-status of an engine job whose status is fresh (rate-limited: nothing to do);
* update-job-status?delay=60 repeated (requests merge: one pending request);
* report-job-status of an unchanged status (JSON body, Bearer token);
* report-job-status with a new progress value on every hit (one write each).

Baselines in the same run:
* "Tethys-style": what Tethys 4.6 does per hit (load the job as its own class, then a
  full save() of every column), behind the same stack;
``rows/hit`` counts rows written (a conditional UPDATE that matches nothing writes none).
* "floor": a view that answers JSON without touching the database.
Target: at most 2 queries per hit when nothing changed and nothing is written.
"""

import json
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import QueryCounter, setup  # noqa: E402


class RowCounter(QueryCounter):
    """QueryCounter that also counts ``rows``: rows changed by INSERT/UPDATE/DELETE (a
    conditional UPDATE that matches nothing writes no row)."""

    def __enter__(self):
        from django.db import connection

        super().__enter__()
        self.rows = 0

        def rows(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                self.rows += max(context["cursor"].rowcount, 0)
            return result

        self._rows = connection.execute_wrapper(rows)
        self._rows.__enter__()
        return self

    def __exit__(self, *exc):
        self._rows.__exit__(*exc)
        super().__exit__(*exc)


def main(hits):
    scratch = setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import models
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import clear_url_caches, include, path

    from tests.testapp.engine import FakeEngine
    from tests.testapp.models import FakeEngineJob
    from tethys_compute.models import BasicJob, TethysJob

    settings.TESTAPP_ENGINE_DIR = str(scratch / "engine")
    FakeEngine(settings.TESTAPP_ENGINE_DIR)  # creates the scheduler directory

    def tethys_style(request, job_id):
        job = TethysJob.objects.get_subclass(pk=int(job_id))
        models.Model.save(job)  # Tethys saves every column on every update_status()
        return JsonResponse({"success": True})

    def floor(request, job_id):
        return JsonResponse({"success": True})

    urls = types.ModuleType("bench_callback_urls")
    urls.urlpatterns = [
        path("baseline/tethys/<str:job_id>/", tethys_style),
        path("baseline/floor/<str:job_id>/", floor),
        path("", include("tethys_compute.urls")),
    ]
    sys.modules[urls.__name__] = urls
    settings.ROOT_URLCONF = urls.__name__
    clear_url_caches()

    user = get_user_model().objects.create_user("bench", password="x")
    engine_job = FakeEngineJob.objects.create(name="engine", user=user, label="bench",
                                              scheduler_name="alpha")
    engine_job.execute()  # Submitted, just checked: not due for a refresh
    basic = BasicJob.objects.create(name="basic", user=user, label="bench")
    basic.execute()
    basic.status = "Running"
    token = basic.status_report_token
    client = Client()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def run(label, send):
        send(0)  # warm-up: URL resolver, first query plans
        with RowCounter() as counter:
            started = time.perf_counter()
            for i in range(hits):
                response = send(i)
                assert response.status_code == 200, (label, response.content)
            seconds = time.perf_counter() - started
        return {"label": label, "seconds": seconds, "queries": counter.total / hits,
                "rows": counter.rows / hits}

    results = [
        run("update-job-status, nothing due",
            lambda i: client.get(f"/update-job-status/{engine_job.pk}/")),
        run("update-job-status?delay=60, repeated",
            lambda i: client.get(f"/update-job-status/{engine_job.pk}/?delay=60")),
        run("report-job-status, unchanged",
            lambda i: client.post(f"/report-job-status/{basic.pk}/", json.dumps(
                {"status": "RUN"}), content_type="application/json", **bearer)),
        run("report-job-status, new progress",
            lambda i: client.post(f"/report-job-status/{basic.pk}/", json.dumps(
                {"status": "RUN", "progress": i % 101}), content_type="application/json",
                **bearer)),
        run("baseline: Tethys-style load + full save",
            lambda i: client.get(f"/baseline/tethys/{engine_job.pk}/")),
        run("baseline: floor (no database)",
            lambda i: client.get(f"/baseline/floor/{engine_job.pk}/")),
    ]
    tethys = results[-2]["seconds"]
    from django.db import connection

    print(f"{hits} hits each, {connection.vendor}, Django test client (full request stack)")
    print(f"{'endpoint':42} {'s':>7} {'µs/hit':>8} {'queries/hit':>12} {'rows/hit':>9}"
          f" {'vs Tethys-style':>16}")
    for result in results:
        print(f"{result['label']:42} {result['seconds']:7.3f} "
              f"{result['seconds'] / hits * 1e6:8.0f} {result['queries']:12.2f} "
              f"{result['rows']:9.2f} {result['seconds'] / tethys:16.2f}")
    quiet = results[:3]
    worst = max(r["queries"] for r in quiet)
    print(f"most queries per hit with nothing changed: {worst:.2f} (target: at most 2)")
    return 0 if worst <= 2 and all(r["rows"] < 2 / hits for r in quiet) else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
