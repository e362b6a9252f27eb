"""The app imports, migrates and runs Basic jobs with no engine package installed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib.abc, sys

BLOCKED = ("condorpy", "htcondor", "htcondor2", "classad", "classad2", "dask",
           "distributed", "paramiko", "scp")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, Block())
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("check")
from django.contrib.auth import get_user_model
from tests.testapp.app import TestApp
from tethys_compute.models import CondorJob, DaskJob, TethysJob
user = get_user_model().objects.create_user("u")
manager = TestApp.get_job_manager()
job = manager.create_job("basic_{id}", user, job_type="BASIC")
job.execute()
job.status = "Complete"
assert TethysJob.objects.get(pk=job.pk).cached_status == "Complete"
manager.create_job("dask", user, job_type="DASK").save()
manager.create_job("condor", user, job_type="CONDOR").save()
# F7: the Gizmo Showcase saves a bare CondorWorkflow row (Tethys needs condorpy for it).
from tethys_compute.models import CondorWorkflow
CondorWorkflow(name="showcase", user=user, label="other", _status="VAR",
               status_message="m").save()
print(sorted(type(j).__name__ for j in manager.list_jobs()))
leaked = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
assert not leaked, leaked
print("ok")
"""


def test_basic_jobs_without_any_engine_package(tmp_path):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        TETHYS_TEST_DB="sqlite",
        TETHYS_TEST_WORKSPACES=str(tmp_path / "ws"),
    )
    env["TETHYS_TEST_SQLITE_FILE"] = str(tmp_path / "db.sqlite3")
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "['BasicJob', 'CondorJob', 'DaskJob']" in result.stdout
    assert result.stdout.strip().endswith("ok")
