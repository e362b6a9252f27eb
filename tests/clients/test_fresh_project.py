"""F1: a fresh Django project whose views module calls ``App.get_job_manager()`` while it
is imported (as the Dask tutorial's and gwdm's controllers do) can run ``migrate`` and
``check`` on an empty database. Each command runs as a person runs it, in a subprocess."""

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

FILES = {
    "manage.py": """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    """,
    "proj/__init__.py": "",
    "proj/settings.py": """
        import os
        SECRET_KEY = "fresh-project-test"
        DEBUG = True
        ALLOWED_HOSTS = ["127.0.0.1"]
        USE_TZ = True
        ROOT_URLCONF = "proj.urls"
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        INSTALLED_APPS = [
            "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
            "tethys_compute", "dask_tutorial",
        ]
        MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
                      "django.contrib.auth.middleware.AuthenticationMiddleware"]
        TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                      "APP_DIRS": True, "OPTIONS": {}}]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                                 "NAME": os.environ["FRESH_DB"]}}
        TETHYS_COMPUTE = {"WORKSPACES_ROOT": os.environ["FRESH_WORKSPACES"]}
    """,
    "proj/urls.py": """
        from django.urls import include, path
        urlpatterns = [
            path("", include("tethys_compute.urls")),
            path("apps/dask-tutorial/", include("dask_tutorial.urls")),
        ]
    """,
    "dask_tutorial/__init__.py": "",
    "dask_tutorial/app.py": """
        from tethys_compute.app_base import TethysAppBase
        from tethys_compute.app_settings import SchedulerSetting

        class App(TethysAppBase):
            name = "Dask Tutorial"
            package = "dask_tutorial"

            def scheduler_settings(self):
                return (SchedulerSetting(name="dask_primary", description="Dask cluster",
                                         engine=SchedulerSetting.DASK, required=True),)
    """,
    # The tutorial's controllers module: the manager is made while the URLconf loads.
    "dask_tutorial/controllers.py": """
        from django.http import HttpResponse
        from .app import App

        job_manager = App.get_job_manager()

        def home(request):
            jobs = job_manager.list_jobs(order_by="-id", filters=None)
            return HttpResponse(str(jobs.count()))
    """,
    "dask_tutorial/urls.py": """
        from django.urls import path
        from . import controllers
        urlpatterns = [path("", controllers.home, name="home")]
    """,
}


@pytest.fixture
def project(tmp_path):
    for name, text in FILES.items():
        path = tmp_path / "project" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    db = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'project'}{os.pathsep}{ROOT}",
           "FRESH_DB": str(db), "FRESH_WORKSPACES": str(tmp_path / "workspaces")}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=tmp_path / "project",
                              env=env, capture_output=True, text=True, timeout=180)

    manage.db = db
    return manage


def test_check_and_migrate_on_an_empty_database(project):
    checked = project("check")
    assert checked.returncode == 0, checked.stderr
    assert "no such table" not in checked.stderr
    assert not project.db.exists() or project.db.stat().st_size == 0  # nothing was written

    checked_db = project("check", "--database", "default")
    assert checked_db.returncode == 0, checked_db.stderr

    migrated = project("migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr

    # After migrate the app's declared settings are in the database...
    with sqlite3.connect(project.db) as db:
        rows = db.execute("SELECT app_package, name, engine, required FROM "
                          "tethys_compute_schedulersetting").fetchall()
    assert rows == [("dask_tutorial", "dask_primary", "dask", 1)]
    # ...and the database checks now see them (W006: required, unassigned).
    after = project("check", "--database", "default")
    assert after.returncode == 0, after.stderr
    assert "tethys_compute.W006" in after.stderr + after.stdout
