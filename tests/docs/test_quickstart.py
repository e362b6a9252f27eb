"""docs/quickstart.rst followed in order, as a new user would, in a brand-new project.

The page's code blocks are ``literalinclude`` s of the files under ``docs/quickstart/``;
this test copies those same files into a project made by ``django-admin startproject``
and ``manage.py startapp``, in a virtualenv of its own with the wheel built from this
checkout (pip installs the dependencies, from its cache when it has them). It then runs
the page's commands: ``migrate``, the Dask cluster (a LocalCluster with the status
plugin), the scheduler assignment, the web server and the monitor; logs in through the
admin's form, presses both "New job" buttons (a Basic job and a Dask job) and reads the
jobs table until both jobs are Complete.
"""

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.docs.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TETHYS_TEST_DB") == "postgres",
                       reason="the quickstart's project uses its own SQLite database: "
                              "it runs in the SQLite pass"),
]

FILES = ROOT / "docs" / "quickstart"
PAGE = ROOT / "docs" / "quickstart.rst"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check, what, timeout, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes:
            assert process.poll() is None, f"{name} exited early ({process.returncode})"
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Project:
    """The new project: its venv, directory and the processes started in it."""

    def __init__(self, root):
        self.root = root
        self.venv = root / "venv"
        self.dir = root / "project"
        self.python = str(self.venv / "bin" / "python")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DJANGO_", "PYTHON", "VIRTUAL_ENV", "TETHYS_"))}
        self.env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        self.processes = []

    def run(self, *args, timeout=600, **kwargs):
        result = subprocess.run(args, cwd=kwargs.pop("cwd", self.dir), env=self.env,
                                capture_output=True, text=True, timeout=timeout, **kwargs)
        assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
        return result

    def manage(self, *args, **kwargs):
        return self.run(self.python, "manage.py", *args, **kwargs)

    def start(self, name, *args):
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(args, cwd=self.dir, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append((name, process))
        return process

    def log(self, name):
        return (self.root / f"{name}.log").read_text()

    def stop(self):
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Browser:
    """Just enough of a browser: cookies, Django's CSRF token, form posts."""

    def __init__(self, base):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path):
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.geturl(), response.read().decode()

    def post(self, path, fields=None, referer=None):
        token = next(c.value for c in self.cookies if c.name == "csrftoken")
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **(fields or {})}).encode()
        request = urllib.request.Request(self.base + path, data=data,
                                         headers={"Referer": referer or self.base + path})
        with self.opener.open(request, timeout=120) as response:
            return response.geturl(), response.read().decode()


def rows(html):
    """``{job name: status text}`` of the jobs table in ``html``."""
    found = {}
    for match in re.finditer(r'<tr class="job-row"[^>]*data-job-name="([^"]*)"(.*?)</tr>',
                             html, re.S):
        status = re.search(r'<span class="tc-status-text">([^<]*)</span>', match.group(2))
        found[match.group(1)] = status.group(1) if status else None
    return found


def test_the_page_shows_the_files_the_test_uses():
    """Every file of docs/quickstart/ is included in the page, and nothing else is shown
    as code that a reader would have to type into a file."""
    page = PAGE.read_text()
    included = set(re.findall(r"^\.\. literalinclude:: quickstart/(\S+)", page, re.M))
    files = {str(p.relative_to(FILES)) for p in FILES.rglob("*") if p.is_file()
             and "__pycache__" not in p.parts}
    assert files and included == files
    assert "pip install \"tethys-compute[" not in page  # not published on an index
    # No placeholder to fill in: the commands name real paths and the project's own URL.
    commands = "\n".join(re.findall(r"^\s+\$ .*$", page, re.M))
    assert not re.search(r"<[^>]+>", commands), commands
    homepage = re.search(r'^Homepage = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                         re.M).group(1)
    assert f"git clone {homepage}" in page
    # The access-log filter that hides tokens is part of the settings the page shows.
    assert "tethys_compute.log_filters.RedactStatusTokens" in (FILES / "settings.py").read_text()
    # startapp comes before the URLs that include my_app.urls; the URLs before migrate.
    assert page.index("startapp my_app") < page.index("quickstart/urls.py")
    assert page.index("quickstart/urls.py") < page.index("manage.py migrate")


def test_quickstart_in_a_new_project(dist, tmp_path):
    wheel, _ = dist
    project = Project(tmp_path)
    # Install: the wheel (built by `make dist`) with the dask extra, in a new venv.
    project.run(sys.executable, "-m", "venv", str(project.venv), cwd=tmp_path)
    project.run(project.python, "-m", "pip", "install", "--quiet",
                "--disable-pip-version-check", f"{wheel}[dask]", "django-bootstrap-static",
                cwd=tmp_path, timeout=900)
    # A new project and app, as startproject and startapp make them.
    project.dir.mkdir()
    project.run(str(project.venv / "bin" / "django-admin"), "startproject", "mysite", ".")
    project.manage("startapp", "my_app")
    # The page's files, into the places it names.
    settings = project.dir / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + (FILES / "settings.py").read_text())
    shutil.copy(FILES / "urls.py", project.dir / "mysite" / "urls.py")
    shutil.copytree(FILES / "my_app", project.dir / "my_app", dirs_exist_ok=True)
    shutil.copy(FILES / "cluster.py", project.dir / "cluster.py")

    migrate = project.manage("migrate")
    assert "Applying tethys_compute.0001" in migrate.stdout
    check = project.run(project.python, "manage.py", "check", "--database", "default")
    assert "tethys_compute.W006" in check.stderr + check.stdout  # no scheduler assigned yet

    web_port, dask_port = free_port(), free_port()
    site = f"http://127.0.0.1:{web_port}"
    cluster = project.start("cluster", project.python, "cluster.py", str(dask_port), site)
    try:
        wait_until(lambda: port_open(dask_port), "the Dask scheduler", 180,
                   [("cluster", cluster)])
        project.manage("tethys_compute_schedulers", "create-dask", "-n", "local",
                       "-e", f"tcp://127.0.0.1:{dask_port}")
        project.manage("tethys_compute_schedulers", "link", "local", "my_app:dask_primary")
        check = project.run(project.python, "manage.py", "check", "--database", "default")
        assert "W006" not in check.stderr + check.stdout
        project.env["DJANGO_SUPERUSER_PASSWORD"] = "quick-start-pw"
        project.manage("createsuperuser", "--noinput", "--username", "admin",
                       "--email", "admin@example.org")
        web = project.start("web", project.python, "manage.py", "runserver",
                            f"127.0.0.1:{web_port}", "--noreload")
        monitor = project.start("monitor", project.python, "manage.py",
                                "tethys_compute_monitor")
        running = [("cluster", cluster), ("web", web), ("monitor", monitor)]
        wait_until(lambda: port_open(web_port), "the web server", 120, running)

        browser = Browser(site)
        url, html = browser.get("/my-app/jobs/")  # login_required: the admin's login form
        assert "/admin/login/" in url
        login = urllib.parse.urlsplit(url)
        url, html = browser.post(f"{login.path}?{login.query}",
                                 {"username": "admin", "password": "quick-start-pw",
                                  "next": "/my-app/jobs/"})
        assert url.endswith("/my-app/jobs/"), html[:2000]
        assert "tc-jobs-table-wrapper" in html and "No Jobs" in html
        for static in ("bootstrap/css/bootstrap.min.css",
                       "tethys_compute/jobs_table/jobs_table.css",
                       "tethys_compute/jobs_table/jobs_table.js"):
            assert f"/static/{static}" in html
            browser.get(f"/static/{static}")  # served (DEBUG=True, as startproject sets)

        # A Tethys 4.6-style reporter puts its token in the URL: the request line
        # runserver logs shows it redacted (the settings' filter).
        secret = "sEcReT-tOkEn-1234"
        try:
            browser.get(f"/report-job-status/1/?token={secret}&status=RUN")
        except urllib.error.HTTPError as refused:
            assert refused.code in (403, 404)
        wait_until(lambda: "token=[redacted]" in project.log("web"), "the request line",
                   30, running)
        assert secret not in project.log("web")

        browser.post("/my-app/jobs/new-basic/", referer=site + "/my-app/jobs/")
        browser.post("/my-app/jobs/new-dask/", referer=site + "/my-app/jobs/")

        def finished():
            shown = rows(browser.get("/my-app/jobs/")[1])
            return shown if len(shown) == 2 and set(shown.values()) == {"Complete"} else None

        try:
            shown = wait_until(finished, "both jobs to complete", 300, running)
        except AssertionError:
            raise AssertionError(
                f"{rows(browser.get('/my-app/jobs/')[1])}\n--- web\n{project.log('web')[-3000:]}"
                f"\n--- monitor\n{project.log('monitor')[-2000:]}"
                f"\n--- cluster\n{project.log('cluster')[-3000:]}") from None
        assert sorted(shown) == ["quick_1", "simulate_2"]
        # The results, as the app reads them.
        result = project.manage("shell", "-c", (
            "from my_app.app import MyApp\n"
            "for job in MyApp.get_job_manager().list_jobs():\n"
            "    print(job.name, job.type, job.status,\n"
            "          getattr(job, 'result', job.extended_properties))\n"
            "    print('run', job.name, job.run_time.total_seconds())\n"))
        run_times = dict(line.split()[1:] for line in result.stdout.splitlines()
                         if line.startswith("run "))
        # What the page says: the Basic job is Complete at once, the Dask job runs for
        # about a second (five simulated years of 0.2 s).
        assert float(run_times["quick_1"]) < 0.5, run_times
        assert 1.0 <= float(run_times["simulate_2"]) < 3.0, run_times
        lines = sorted(line for line in result.stdout.splitlines()
                       if line.startswith(("quick_", "simulate_")))
        assert lines[0] == "quick_1 BasicJob Complete {'result': {'years': 1, 'flow': 1.0}}", lines
        assert lines[1] == "simulate_2 DaskJob Complete {'years': 5, 'flow': 15.0}", lines
    finally:
        project.stop()
    for name in ("web", "monitor", "cluster"):
        assert "Traceback" not in project.log(name), project.log(name)[-3000:]
