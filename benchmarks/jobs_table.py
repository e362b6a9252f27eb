"""Benchmark of the jobs table: rendering 100 and 1000 rows, and the live-update poll of
a table with 1000 unfinished rows.

    python benchmarks/jobs_table.py            # SQLite
    TETHYS_TEST_DB=postgres ... jobs_table.py  # PostgreSQL (PGHOST/PGPORT)
    python benchmarks/jobs_table.py --no-browser

Render: ``{% jobs_table %}`` of N Basic jobs (time, SQL queries, bytes), against a
baseline in the same run: a bare Django template looping over the same queryset
(id, name, status). Target: queries do not grow with N.

Poll: one POST to the poll endpoint for all 1000 unfinished rows of a table, nothing
changed and then 100 rows changed (server ms, queries, bytes). Target: at most 10
queries. Then, unless ``--no-browser``, the table is opened in headless Chromium on a
live server and the poll requests are counted over several refresh intervals. Target:
one request per interval (Tethys sends one per row per interval: 1000).

Live poll (new-row detection): a paged table (pageLength 1000) over the user's
``list_jobs()``, its poll sending the 1000 unfinished rows of its page and the page it
shows (with the ids of the rows it holds, so only new rows are sent), measured with
1000 jobs in the query and again after 99,000 finished jobs were added to it (raw
inserts): nothing new, then a new job. Target: the same query count
at both sizes; in Chromium, still one request per interval with 100,000 jobs.
"""

import json
import os
import statistics
import sys
import time

from _django import QueryCounter, setup

N_ROWS = (100, 1000)
POLL_ROWS = 1000
INTERVAL_MS = 1000
LIVE_JOBS = 100_000


def timed(function, repeat=5):
    """(median seconds, last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def make_jobs(user, count):
    from tethys_compute.models import BasicJob

    ids = []
    for i in range(count):
        job = BasicJob(name=f"model run {i}", user=user, label="test_app", _status="RUN",
                       extended_properties={"stage": "simulate"})
        job.save()
        ids.append(job.pk)
    return ids


def render_benchmark(user, ids):
    from django.contrib.sessions.backends.db import SessionStore
    from django.template import RequestContext, Template
    from django.test import RequestFactory

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.models import TethysJob

    request = RequestFactory().get("/jobs/")
    request.user = user
    request.session = SessionStore()
    ours_template = Template("{% load tethys_compute %}{% jobs_table table %}")
    bare_template = Template(
        "<table>{% for job in jobs %}<tr><td>{{ job.id }}</td><td>{{ job.name }}</td>"
        "<td>{{ job.cached_status }}</td></tr>{% endfor %}</table>")
    columns = ["id", "name", ("Created", "creation_time"), "run_time", "user",
               ("Stage", "extended_properties.stage")]
    rows = []
    for count in N_ROWS:
        subset = ids[:count]

        def ours(subset=subset):
            jobs = TethysJob.objects.filter(pk__in=subset).select_subclasses()
            table = JobsTable(jobs=jobs, column_fields=columns)
            return ours_template.render(RequestContext(request, {"table": table}))

        def bare(subset=subset):
            jobs = TethysJob.objects.filter(pk__in=subset).select_subclasses()
            return bare_template.render(RequestContext(request, {"jobs": jobs}))

        ours()  # warm template caches
        with QueryCounter() as ours_queries:
            ours()
        with QueryCounter() as bare_queries:
            bare()
        ours_s, html = timed(ours, 3)
        bare_s, bare_html = timed(bare, 3)
        rows.append((count, ours_s, ours_queries.total, len(html.encode()), bare_s,
                     bare_queries.total, len(bare_html.encode())))
    print("\nRender ({% jobs_table %} of N Basic jobs, 6 columns, all actions)")
    print("| rows | ours (s) | queries | bytes | baseline (s) | queries | bytes | time ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for count, ours_s, q, size, bare_s, bq, bsize in rows:
        print(f"| {count} | {ours_s:.3f} | {q} | {size:,} | {bare_s:.3f} | {bq} | {bsize:,} | "
              f"{ours_s / bare_s:.1f} |")
    return rows


def paged_benchmark(user, ids):
    """A paged table (pageLength 25) of all the jobs, as a queryset: first render, and a
    later page sorted by name through the rows endpoint."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.template import RequestContext, Template
    from django.test import Client, RequestFactory
    from django.urls import reverse

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.models import TethysJob

    request = RequestFactory().get("/jobs/")
    request.user = user
    request.session = SessionStore()
    template = Template("{% load tethys_compute %}{% jobs_table table %}")
    options = {"enable_data_table": True,
               "data_table_options": {"paging": True, "pageLength": 25, "searching": True}}

    def render():
        table = JobsTable(jobs=TethysJob.objects.filter(pk__in=ids), column_fields=[
            "id", "name", "creation_time", "user"], **options)
        return table, template.render(RequestContext(request, {"table": table}))

    render()
    with QueryCounter() as render_queries:
        table, html = render()
    render_s, _ = timed(render, 3)
    context = table.get_context()
    client = Client()
    client.force_login(user)
    form = {"config": context["config_token"], "rows": context["rows_token"], "page": 20,
            "sort": 1, "dir": "desc"}
    client.post(reverse("jobs_table_rows"), form)
    with QueryCounter() as page_queries:
        answer = client.post(reverse("jobs_table_rows"), form)
    page_s, _ = timed(lambda: client.post(reverse("jobs_table_rows"), form))
    print(f"\nPaged table of {len(ids)} jobs (queryset, pageLength 25)")
    print("| case | ms | queries | bytes |")
    print("|---|---|---|---|")
    print(f"| first render | {render_s * 1000:.1f} | {render_queries.total} | {len(html.encode()):,} |")
    print(f"| page 20 sorted by name (rows endpoint) | {page_s * 1000:.1f} | "
          f"{page_queries.total} | {len(answer.content):,} |")
    return render_queries.total


def poll_benchmark(user, ids):
    from django.test import Client
    from django.urls import reverse

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.models import BasicJob, TethysJob

    client = Client()
    client.force_login(user)
    jobs = TethysJob.objects.filter(pk__in=ids).select_subclasses()
    token = JobsTable(jobs=jobs, column_fields=["id", "name"]).table_config().dumps()
    url = reverse("jobs_table_poll")

    def poll(rows):
        response = client.post(url, data=json.dumps({"config": token, "rows": rows}),
                               content_type="application/json")
        return response

    first = poll({str(pk): "" for pk in ids}).json()["rows"]
    fps = {key: value["fp"] for key, value in first.items()}
    with QueryCounter() as quiet_queries:
        quiet = poll(fps)
    quiet_s, quiet = timed(lambda: poll(fps))
    for pk in ids[:100]:
        BasicJob.objects.filter(pk=pk).update(progress=50)
    with QueryCounter() as changed_queries:
        changed = poll(fps)
    changed_s, _ = timed(lambda: poll(fps))
    assert len(changed.json()["rows"]) == 100
    print(f"\nPoll (one request for {len(ids)} unfinished rows)")
    print("| case | server ms | queries | response bytes |")
    print("|---|---|---|---|")
    print(f"| nothing changed | {quiet_s * 1000:.1f} | {quiet_queries.total} | "
          f"{len(quiet.content):,} |")
    print(f"| 100 rows changed | {changed_s * 1000:.1f} | {changed_queries.total} | "
          f"{len(changed.content):,} |")
    return quiet_queries.total, changed_queries.total


def bulk_finished_jobs(user, count):
    """Add ``count`` finished jobs of ``user`` in one statement (copies of one saved
    Complete job, through a recursive CTE: SQLite and PostgreSQL)."""
    from django.db import connection

    from tethys_compute.models import BasicJob, TethysJob

    template = BasicJob(name="finished", user=user, label="test_app", _status="COM")
    template.save()
    table = TethysJob._meta.db_table
    quote = connection.ops.quote_name
    columns = [f.column for f in TethysJob._meta.concrete_fields if f.column != "id"]
    values = ", ".join("'finished ' || n.i" if c == "name" else f"{quote(table)}.{quote(c)}"
                       for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {values} FROM {quote(table)}, n WHERE {quote(table)}.id = %s",
            [count - 1, template.pk],
        )


def live_poll_benchmark(user, label):
    """The poll of a paged table over ``list_jobs(user)`` with new-row detection on: the
    page's unfinished rows and its view in one request. Returns the query counts."""
    from django.test import Client
    from django.urls import reverse

    from tests.testapp.app import TestApp
    from tethys_compute.gizmos import JobsTable

    client = Client()
    client.force_login(user)
    table = JobsTable(jobs=TestApp.get_job_manager().list_jobs(user), column_fields=[
        "id", "name"], enable_data_table=True,
        data_table_options={"paging": True, "pageLength": POLL_ROWS})
    context = table.get_context()
    fps = {str(row["id"]): row["fp"] for row in context["rows"] if row["active"]}
    view = {"page": 1, "sort": None, "dir": "asc", "q": "", "digest": context["digest"]}
    url = reverse("jobs_table_poll")

    def poll():
        return client.post(url, data=json.dumps(
            {"config": context["config_token"], "rows": fps, "view": view}),
            content_type="application/json")

    assert "page" not in poll().json()
    with QueryCounter() as quiet_queries:
        quiet = poll()
    quiet_s, _ = timed(poll)
    view["page"] = 10 ** 9  # the last page (clamped): where a new job lands
    view["digest"] = ""
    view["shown"] = []
    shown = poll().json()["page"]
    view["digest"] = shown["digest"]
    view["shown"] = shown["order"]  # the rows the browser holds, as the script sends them
    TestApp.get_job_manager().create_job("new", user, job_type="BASIC").save()
    with QueryCounter() as new_queries:
        changed = poll()
    assert changed.json()["page"]["total"] == shown["total"] + 1
    print(f"\nLive poll, {label} ({len(fps)} unfinished rows in the request)")
    print("| case | server ms | queries | request bytes | response bytes |")
    print("|---|---|---|---|---|")
    body = len(json.dumps({"config": context["config_token"], "rows": fps, "view": view}))
    print(f"| nothing new | {quiet_s * 1000:.1f} | {quiet_queries.total} | {body:,} | "
          f"{len(quiet.content):,} |")
    print(f"| a new job on the page shown | - | {new_queries.total} | {body:,} | "
          f"{len(changed.content):,} |")
    return quiet_queries.total, new_queries.total


def browser_benchmark(user, path=f"/jobs/?refresh={INTERVAL_MS}", label=""):
    """Count poll requests per refresh interval in headless Chromium on a live server."""
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test import Client
    from django.test.testcases import LiveServerThread
    from django.urls import clear_url_caches
    from playwright.sync_api import sync_playwright

    settings.ROOT_URLCONF = "tests.jobs_table.urls"
    clear_url_caches()
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override={}, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://127.0.0.1:{server.port}"
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--no-first-run", "--disable-quic"])
            context = chromium.new_context()
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie,
                                  "url": base}])
            page = context.new_page()
            polls = []
            page.on("request", lambda r: polls.append(r) if "/jobs-table/poll/" in r.url else None)
            start = time.perf_counter()
            page.goto(f"{base}{path}", timeout=120000)
            loaded = time.perf_counter() - start
            rows = page.locator('tr.job-row[data-active="true"]').count()
            polls.clear()
            seconds = 6
            page.wait_for_timeout(seconds * 1000)
            per_request = [len(json.loads(r.post_data)["rows"]) for r in polls]
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        server.terminate()
    intervals = seconds * 1000 / INTERVAL_MS
    print(f"\nBrowser{label} (headless Chromium, {rows} unfinished rows, refresh_interval "
          f"{INTERVAL_MS} ms, {seconds} s observed; page loaded in {loaded:.2f} s)")
    print("| poll requests | per interval | rows per request | Tethys requests per interval |")
    print("|---|---|---|---|")
    print(f"| {len(polls)} | {len(polls) / intervals:.2f} | "
          f"{min(per_request, default=0)}-{max(per_request, default=0)} | {rows} |")
    return len(polls) / intervals


def main():
    setup()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench", password="pw")
    start = time.perf_counter()
    ids = make_jobs(user, max(max(N_ROWS), POLL_ROWS))
    print(f"Created {len(ids)} jobs in {time.perf_counter() - start:.1f} s "
          f"({os.environ.get('TETHYS_TEST_DB', 'sqlite')}).")
    rows = render_benchmark(user, ids)
    paged_benchmark(user, ids)
    quiet_q, changed_q = poll_benchmark(user, ids[:POLL_ROWS])
    ok = rows[0][2] == rows[-1][2] and quiet_q <= 10 and changed_q <= 10
    if "--no-browser" not in sys.argv:
        per_interval = browser_benchmark(user)
        ok = ok and per_interval <= 1.2
    small = live_poll_benchmark(user, f"{len(ids)} jobs in the query")
    start = time.perf_counter()
    bulk_finished_jobs(user, LIVE_JOBS - len(ids) - 1)
    print(f"\nAdded {LIVE_JOBS - len(ids) - 1:,} finished jobs in "
          f"{time.perf_counter() - start:.1f} s.")
    big = live_poll_benchmark(user, f"{LIVE_JOBS:,} jobs in the query")
    ok = ok and small == big and max(big) <= 12
    if "--no-browser" not in sys.argv:
        per_interval = browser_benchmark(
            user, f"/jobs/?preset=paged&length={POLL_ROWS}&refresh={INTERVAL_MS}",
            f", live table over {LIVE_JOBS:,} jobs (pageLength {POLL_ROWS})")
        ok = ok and per_interval <= 1.2
    print("\nTargets met." if ok else "\nTARGETS MISSED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
