"""Earlier runs' logs (tethys_compute/run_logs.py) are read under the job-directory
confinement: a kept run's manifest cannot lead the dialog outside the job's directory."""

import json
import os
import sys

import pytest

from tethys_compute.local_commands import run_command
from tethys_compute.models import TethysJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_earlier_runs_log_outside_the_job_directory_is_not_read(user, tmp_path):
    from tests.testapp.app import TestApp

    job = TestApp.get_job_manager().create_job("local", user, job_type="BASIC")
    job.save()
    run_command(job, [sys.executable, "-c", "print('run one')"], wait=True)
    job = TethysJob.objects.get_subclass(pk=job.pk)
    job.resubmit()
    job = TethysJob.objects.get_subclass(pk=job.pk)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours\n")
    kept = os.path.join(job.workspace, "runs", "1")
    os.symlink(secret, os.path.join(kept, "stdout.log.link"))
    with open(os.path.join(kept, "logs.json"), "w") as handle:
        json.dump({"logs": {"stdout": "stdout.log", "linked": "stdout.log.link",
                            "up": "../../../secret.txt", "abs": str(secret)}}, handle)
    earlier = job.get_logs()["Run 1"]
    assert earlier["stdout"]() == "run one\n"
    for name in ("linked", "up", "abs"):
        text = earlier[name]()
        assert "not available" in text or "does not exist" in text, (name, text)
        assert "not yours" not in text
