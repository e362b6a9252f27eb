"""tethys_compute side by side with the real Tethys Platform 4.6.1.

    .venv/bin/python benchmarks/vs_tethys.py [--rounds 5] [-n 1000] [--journal wal]

Builds Tethys 4.6.1 from PyPI into its own virtual environment the first time (a few
minutes; cached under ``$TC_VS_TETHYS_CACHE``, by default
``~/.cache/tethys_compute/vs_tethys``: the venv, a ``TETHYS_HOME`` with the portal
config and the portal database ``tethys db configure`` made), then runs the same workload
against Tethys (in that venv) and against this checkout (with the running Python), one
process per side, in interleaved rounds (the order flips every round). Every side uses a
fresh SQLite file, DEBUG off, and counts SQL statements the same way (an
``execute_wrapper`` on every connection; BEGIN/COMMIT/SAVEPOINT not counted).

Prints per operation: both times (median over the rounds), the ratio Tethys / ours
(median, min-max over the rounds: above 1, we are faster) and both query counts per
operation. ``--json FILE`` keeps the raw numbers.

``--only list_jobs,template,save`` times only the operations named (comma-separated keys:
``create``, ``save``, ``list_jobs``, ``get_job``, ``template``, ``status``, ``table``,
``poll``, ``update_status``, ``report_running``, ``report_complete``); the jobs are still
created (untimed when ``create`` is left out). A round with Tethys's poll and reports takes
minutes at N=1000; ``--only`` makes a round of the reads take seconds.
``--profile KEY`` (with ``--only``) runs the first of the timed runs of operation KEY under
cProfile on each side and prints its 25 costliest functions (cumulative time); the times
printed for KEY then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TETHYS_VERSION = "4.6.1"
ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("TC_VS_TETHYS_CACHE", "~/.cache/tethys_compute/vs_tethys"))
CACHE = CACHE.expanduser()

# --- building the Tethys side ------------------------------------------------------------------


def _run(cmd, **kwargs):
    print("   $", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def build_tethys(cache: Path, python: str) -> Path:
    """The Tethys venv's python (built once) with a configured portal in
    ``cache/tethys_home``. tethys-platform's pip metadata leaves out condorpy, which its
    models import; dask[distributed] is needed for its DaskJob."""
    venv = cache / f"tethys-{TETHYS_VERSION}"
    done = venv / ".vs_tethys_complete"
    if not done.exists():
        print(f"Building Tethys {TETHYS_VERSION} in {venv} (once; a few minutes)", flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        _run([python, "-m", "venv", venv])
        _run([venv / "bin/pip", "install", "-q", "-U", "pip"])
        _run([venv / "bin/pip", "install", "-q", f"tethys-platform=={TETHYS_VERSION}",
              "condorpy", "dask[distributed]"])
        done.write_text(TETHYS_VERSION)
    home = cache / "tethys_home"
    env = dict(os.environ, TETHYS_HOME=str(home))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "portal_config.yml").exists():
        _run([venv / "bin/tethys", "gen", "portal_config"], env=env, cwd=cache)
    if not (home / "tethys_platform.sqlite").exists():
        _run([venv / "bin/tethys", "db", "configure", "--portal-superuser-name", "admin",
              "--portal-superuser-email", "admin@example.com",
              "--portal-superuser-password", "pass", "-y"], env=env, cwd=cache)
    return venv / "bin/python"


TETHYS_SETTINGS = '''
import os
from tethys_portal.settings import *  # noqa
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["VS_DB"]}}
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_OLD_WORKSPACES_API = False
TETHYS_WORKSPACES_ROOT = os.environ["VS_WORKSPACES"]
'''

OUR_SETTINGS = '''
import os
SECRET_KEY = "vs-tethys-bench-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = "vs_our_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages",
                  "django.contrib.staticfiles", "tethys_compute"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["VS_DB"]}}
TETHYS_COMPUTE = {"WORKSPACES_ROOT": os.environ["VS_WORKSPACES"]}
'''

OUR_URLS = '''
from django.contrib import admin
from django.urls import include, path
urlpatterns = [path("admin/", admin.site.urls), path("", include("tethys_compute.urls"))]
'''

# --- one side's workload (runs inside that side's Python) --------------------------------------


class Counter:
    """SQL statements on every connection (BEGIN, COMMIT, SAVEPOINT, RELEASE left out)."""

    CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

    def __init__(self):
        self.total = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().split(None, 1)[0].upper() not in self.CONTROL:
            self.total += 1
        return execute(sql, params, many, context)


def _side(args):
    side = args.side
    work = Path(args.workdir)
    os.environ["VS_DB"] = str(work / f"{side}.sqlite3")
    os.environ["VS_WORKSPACES"] = str(work / f"{side}_workspaces")
    shutil.rmtree(os.environ["VS_WORKSPACES"], ignore_errors=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(os.environ["VS_DB"] + suffix).unlink(missing_ok=True)
    sys.path.insert(0, str(work))
    if side == "tethys":
        shutil.copy(CACHE / "tethys_home" / "tethys_platform.sqlite", os.environ["VS_DB"])
        os.environ["TETHYS_HOME"] = str(CACHE / "tethys_home")
        (work / "vs_tethys_settings.py").write_text(TETHYS_SETTINGS)
        os.environ["DJANGO_SETTINGS_MODULE"] = "vs_tethys_settings"
    else:
        sys.path.insert(0, str(ROOT))
        (work / "vs_our_settings.py").write_text(OUR_SETTINGS)
        (work / "vs_our_urls.py").write_text(OUR_URLS)
        os.environ["DJANGO_SETTINGS_MODULE"] = "vs_our_settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.db.backends.signals import connection_created

    counter = Counter()

    def install(sender, connection, **kwargs):
        if args.journal == "wal" and connection.vendor == "sqlite":
            connection.connection.execute("PRAGMA journal_mode=WAL")
            connection.connection.execute("PRAGMA synchronous=NORMAL")
        if counter not in connection.execute_wrappers:
            connection.execute_wrappers.append(counter)

    connection_created.connect(install, weak=False)
    call_command("migrate", verbosity=0)
    for conn in connections.all():
        conn.close()
    only = set(args.only.split(",")) if args.only else None
    results = Workload(side, counter, args.n, only, args.profile).run()
    Path(args.out).write_text(json.dumps(results))


class Workload:
    """The operations, the same on both sides; only the import paths differ."""

    def __init__(self, side, counter, n, only=None, profile=None):
        self.side, self.counter, self.n = side, counter, n
        self.only, self.profile = only, profile
        self.results = {}

    def wanted(self, key):
        return self.only is None or key in self.only

    def measure(self, label, fn, repeat=1, ops=1, key=None):
        """Median seconds of ``repeat`` runs of ``fn`` (per op when ``ops`` > 1) and its
        statements per op. With ``--only``, an operation whose ``key`` is not named is run
        once untimed when it prepares later ones (``create``), else skipped."""
        if not self.wanted(key):
            if key == "create":
                fn()
            return
        times, cpu, queries = [], [], None
        profiler = None
        if key is not None and key == self.profile:
            import cProfile

            profiler = cProfile.Profile()
        for run in range(repeat):
            before = self.counter.total
            start, start_cpu = time.perf_counter(), time.process_time()
            if profiler is not None and run == 0:
                profiler.runcall(fn)  # the first run: a new job's save() inserts only once
            else:
                fn()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            if queries is None:
                queries = (self.counter.total - before) / ops
        seconds = statistics.median(times) / ops
        cpu_seconds = statistics.median(cpu) / ops  # the whole process: every thread
        self.results[label] = {"seconds": seconds, "cpu_seconds": cpu_seconds,
                               "queries": queries}
        print(f"  {self.side:6} {label:52} {seconds * 1000:10.3f} ms "
              f"(CPU {cpu_seconds * 1000:.3f} ms) {queries:8.2f} q/op", flush=True)
        if profiler is not None:
            import pstats

            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    def run(self):
        from django.contrib.auth.models import User
        from django.template import Context, Template
        from django.test import Client

        if self.side == "tethys":
            from tethys_apps.base.app_base import TethysAppBase
            from tethys_gizmos.gizmo_options.jobs_table import JobsTable
            table_tag = "{% load tethys_gizmos %}{% gizmo jobs_table_options %}"
        else:
            from tethys_compute.app_base import TethysAppBase
            from tethys_compute.gizmos import JobsTable
            table_tag = "{% load tethys_compute %}{% gizmo jobs_table_options %}"
        from tethys_compute.models import TethysJob

        class BenchApp(TethysAppBase):
            name = "Bench App"
            package = "bench_app"
            root_url = "bench-app"
            index = "home"

        n = self.n
        user = User.objects.create_user("bench_user", "bench@example.com", "x")
        jm = BenchApp.get_job_manager()
        jm.create_job(name="warm-up", user=user, job_type="BASIC").save()
        TethysJob.objects.all().delete()

        created = []

        def create():
            for i in range(n):
                job = jm.create_job(name=f"bench-job-{i}", user=user, job_type="BASIC",
                                    description="benchmark job", extended_properties={"i": i})
                job.save()
                created.append(job)

        self.measure("create_job + save (per job)", create, ops=n, key="create")
        fresh = [jm.create_job(name=f"new-{i}", user=user, job_type="BASIC",
                               description="benchmark job", extended_properties={"i": i})
                 for i in range(n)]

        def save_new():
            for job in fresh:
                job.save()

        self.measure("save() of a new job (per job)", save_new, ops=n, key="save")
        TethysJob.objects.filter(name__startswith="new-").delete()

        self.measure(f"list(list_jobs(user)), {n} rows", lambda: list(jm.list_jobs(user=user)),
                     repeat=7, key="list_jobs")
        last = created[-1].id
        self.measure("get_job(id, user)", lambda: jm.get_job(last, user=user), repeat=7,
                     key="get_job")
        loop = Template("{% for j in jobs %}{{ j.id }} {{ j.name }} {{ j.cached_status }}\n"
                        "{% endfor %}")
        self.measure(f"template loop over list_jobs, {n} rows",
                     lambda: loop.render(Context({"jobs": jm.list_jobs(user=user)})), repeat=7,
                     key="template")
        jobs = list(jm.list_jobs(user=user))
        self.measure(f"job.status of {n} pending jobs (per job)",
                     lambda: [j.status for j in jobs], ops=n, key="status")

        # The rows become active (Submitted an hour ago), as a table shows running jobs.
        from datetime import timedelta

        from django.utils import timezone

        TethysJob.objects.filter(user=user).update(
            _status="SUB", execute_time=timezone.now() - timedelta(hours=1))
        tpl = Template(table_tag)
        columns = ("id", "name", "description", "creation_time", "execute_time")
        self.measure("jobs table of 100 rows: construct + render", lambda: tpl.render(Context({
            "jobs_table_options": JobsTable(jobs=jm.list_jobs(user=user)[:100],
                                            column_fields=columns)})), repeat=5, key="table")
        if self.wanted("poll"):
            table = JobsTable(jobs=jm.list_jobs(user=user)[:n], column_fields=columns)
            client = Client()
            client.force_login(user)
            poll = self._poller(client, table, [j.id for j in jobs])
            # Tethys's poll is n requests already: one run; ours: the median of three.
            self.measure(f"one table poll interval, {n} active rows", poll,
                         repeat=1 if self.side == "tethys" else 3, key="poll")

        anonymous = Client()
        self.measure(f"GET update-job-status (per request, x{n})", lambda: [
            anonymous.get(f"/update-job-status/{j.id}/") for j in jobs], ops=n,
            key="update_status")
        tokens = {j.id: j.status_report_token for j in jobs}
        for status, label in (("RUN", "Running"), ("COM", "Complete + results")):
            key = f"report-job-status {label} (per report, x{n})"

            def report(status=status):
                codes = {anonymous.get(f"/report-job-status/{j.id}/",
                                       {"token": tokens[j.id], "status": status}).status_code
                         for j in jobs}
                assert codes == {200}, codes
                self._wait_for_background()

            self.measure(key, report, ops=n, key=f"report_{label.split()[0].lower()}")
        if not self.wanted("report_complete"):
            return self.results
        done = TethysJob.objects.filter(user=user, _status="COM",
                                        completion_time__isnull=False).count()
        assert done == n, f"{done} of {n} jobs Complete with their results processed"
        return self.results

    def _wait_for_background(self):
        if self.side == "ours":
            from tethys_compute.views.update_status import refresh_threads

            assert refresh_threads.wait(600)

    def _poller(self, client, table, ids):
        """One poll interval of the table's script: Tethys POSTs update-row once per
        active row; ours POSTs the table's poll URL once with every row's fingerprint."""
        if self.side == "tethys":
            data = {"column_fields": str(list(table.column_fields)),
                    "show_status": str(table.show_status),
                    "show_actions": str(table.show_actions)}
            _form(data, "actions", json.loads(json.dumps(table.actions)))

            from django.urls import reverse

            urls = [reverse("gizmos:update_job_row", kwargs={"job_id": i}) for i in ids]

            def poll():
                for url in urls:
                    response = client.post(url, data)
                    assert response.status_code == 200 and response.json()["success"], (
                        response.status_code, response.content[:300])
            return poll
        from django.urls import reverse

        url, token = reverse("jobs_table_poll"), table.table_config().dumps()

        def post(rows):
            response = client.post(url, json.dumps({"config": token, "rows": rows}),
                                   content_type="application/json")
            assert response.status_code == 200, response.content[:300]
            return response.json()

        first = post({str(i): "" for i in ids})
        prints = {key: value["fp"] for key, value in first["rows"].items()}
        return lambda: post(prints)


def _form(data, prefix, value):
    """A value as jQuery.param() encodes it in a form (Tethys's table script)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _form(data, f"{prefix}[{key}]", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _form(data, f"{prefix}[{index}]", item)
    else:
        data[prefix] = "" if value is None else (
            str(value).lower() if isinstance(value, bool) else str(value))


# --- driving the rounds ------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=1000, help="jobs (default 1000)")
    parser.add_argument("--journal", choices=("default", "wal"), default="default")
    parser.add_argument("--python", default=shutil.which("python3") or sys.executable,
                        help="the Python the Tethys venv is built with")
    parser.add_argument("--json", help="write the raw numbers to this file")
    parser.add_argument("--only", help="comma-separated operation keys to time (see above)")
    parser.add_argument("--profile", help="an operation key to profile once per side")
    parser.add_argument("--side", choices=("tethys", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        return _side(args)
    pythons = {"tethys": build_tethys(CACHE, args.python), "ours": Path(sys.executable)}
    work = Path(tempfile.mkdtemp(prefix="vs-tethys-"))
    rounds = []
    for number in range(1, args.rounds + 1):
        order = ("tethys", "ours") if number % 2 else ("ours", "tethys")
        print(f"== round {number}/{args.rounds} ({' then '.join(order)})", flush=True)
        got = {"load": f"{os.getloadavg()[0]:.1f}"}
        for side in order:
            out = work / f"{side}_{number}.json"
            subprocess.run([str(pythons[side]), __file__, "--side", side, "--out", str(out),
                            "--workdir", str(work), "-n", str(args.n),
                            "--journal", args.journal, *_passed(args)], check=True, cwd=work)
            got[side] = json.loads(out.read_text())
        rounds.append(got)
    report(rounds, args)
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _passed(args):
    """The ``--only`` and ``--profile`` options, passed on to each side's process."""
    passed = []
    for name in ("only", "profile"):
        if getattr(args, name):
            passed += [f"--{name}", getattr(args, name)]
    return passed


def _time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def report(rounds, args):
    print(f"\nTethys {TETHYS_VERSION} vs tethys_compute, SQLite ({args.journal} journal), "
          f"N={args.n}, {len(rounds)} rounds; ratio = Tethys time / our time\n")
    loads = [r["load"] for r in rounds if "load" in r]
    if loads:
        print(f"Load average (1 min) at each round's start: {', '.join(loads)}\n")
    print("| operation | Tethys | ours | ratio median (min-max) | CPU ratio median | "
          "queries Tethys | ours |")
    print("|---|---|---|---|---|---|---|")
    for label in rounds[0]["tethys"]:
        tethys = [r["tethys"][label]["seconds"] for r in rounds]
        ours = [r["ours"][label]["seconds"] for r in rounds]
        ratios = [t / o for t, o in zip(tethys, ours, strict=True)]
        cpu = [r["tethys"][label].get("cpu_seconds", 0) / r["ours"][label]["cpu_seconds"]
               for r in rounds if r["ours"][label].get("cpu_seconds")]
        print(f"| {label} | {_time(statistics.median(tethys))} | "
              f"{_time(statistics.median(ours))} | **{statistics.median(ratios):.2f}x** "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{f'{statistics.median(cpu):.2f}x' if cpu else '-'} | "
              f"{rounds[0]['tethys'][label]['queries']:g} | "
              f"{rounds[0]['ours'][label]['queries']:g} |")


if __name__ == "__main__":
    sys.exit(main())
