"""A CondorJob's logs are read only from inside the job's directory (or its remote
directory on the submit host), after resolving symlinks: an ``output``/``error``/``log``
attribute that is absolute, climbs out with ``../`` or names a symlink leading outside is
"not available", never the file it points to. Checked through the model and through the
jobs table's log endpoints, locally and over SFTP (real sshd)."""

import json
import os

import pytest
from django.urls import reverse

from tests.htcondor_standin.scenarios import condor_job, read_logs, remote, remote_scheduler
from tethys_compute.engines.condor import ssh
from tethys_compute.gizmos import JobsTable
from tethys_compute.log_files import OutsideDirectory

pytestmark = pytest.mark.django_db

SECRET = "TOP SECRET of the web server"


def _table_token(job):
    return JobsTable(jobs=[job], column_fields=["id", "name"]).table_config().dumps()


def _served(client, job, path):
    """What the log dialog and the download serve for ``path`` (content, download body)."""
    params = {"config": _table_token(job), "job_id": job.pk, "path": json.dumps(path)}
    shown = client.get(reverse("jobs_table_log_content"), params)
    assert shown.status_code == 200, shown.content
    download = client.get(reverse("jobs_table_log_download"), params)
    assert download.status_code == 200
    body = b"".join(download.streaming_content) if download.streaming else download.content
    return shown.json()["content"], body.decode()


@pytest.fixture
def secret_file(tmp_path):
    outside = tmp_path / "server"
    outside.mkdir()
    path = outside / "root-only.txt"
    path.write_text(SECRET + "\n")
    return path


def test_local_logs_outside_the_job_directory_are_not_available(user, client, secret_file):
    job = condor_job(user, "escape", attributes={
        "output": str(secret_file),  # absolute
        "log": "logs/link.log",  # a symlink leading outside
    })
    escape = os.path.relpath(secret_file, job.initial_dir)
    assert escape.startswith("..")
    job.set_attribute("error", escape)  # ../ climbing out
    job.save()
    os.makedirs(os.path.join(job.initial_dir, "logs"), exist_ok=True)
    os.symlink(secret_file, os.path.join(job.initial_dir, "logs", "link.log"))
    job._write_status("RUN")
    logs = read_logs(job)
    assert sorted(logs) == ["error", "events", "log", "output"]
    for name, text in logs.items():
        assert SECRET not in text and "not available" in text, (name, text)
    client.force_login(user)
    for name in ("output", "error", "log"):
        shown, downloaded = _served(client, job, [name])
        assert SECRET not in shown and SECRET not in downloaded
        assert "not available" in shown


def test_local_logs_inside_the_job_directory_still_read(user, client):
    job = condor_job(user, "inside", attributes={"output": "out.txt", "log": "logs/inner.log"})
    os.makedirs(os.path.join(job.initial_dir, "logs"), exist_ok=True)
    with open(os.path.join(job.initial_dir, "out.txt"), "w") as handle:
        handle.write("the output\n")
    # A symlink that stays inside the job's directory is followed.
    os.symlink(os.path.join(job.initial_dir, "out.txt"), os.path.join(job.initial_dir, "logs", "inner.log"))
    job._write_status("RUN")
    logs = read_logs(job)
    assert logs["output"] == "the output\n" and logs["log"] == "the output\n"
    client.force_login(user)
    assert _served(client, job, ["output"]) == ("the output\n", "the output\n")


def test_wildcard_folder_outside_the_job_directory_is_not_listed(user, secret_file):
    job = condor_job(user, "glob")
    job._write_status("RUN")
    pattern = os.path.join(os.path.relpath(secret_file.parent, job.workspace), "*.txt")
    text = job._read_log(job._engine(), pattern)
    assert SECRET not in text and "not available" in text
    with pytest.raises(OutsideDirectory):  # the folder is not even listed
        job._engine().glob(job.workspace, None, pattern)


@pytest.fixture
def remote_job(settings, ssh_server, user):
    remote(settings, ssh_server)
    ssh.close_all()
    scheduler = remote_scheduler(ssh_server)
    job = condor_job(user, "remote escape", scheduler=scheduler)
    job.remote_id = "f" * 32
    job.save()
    yield job
    ssh.close_all()
    ssh_server.run_as_user("rm", "-rf", job.remote_id, "outside.txt", check=False)


def test_remote_logs_outside_the_remote_directory_are_not_available(remote_job, ssh_server, client, user):
    job = remote_job
    home = str(ssh_server.home)
    rid = f"{job.remote_id}/{job.condorpy_job.initial_dir}"
    ssh_server.run_as_user("sh", "-c", f"mkdir -p {rid}/logs && printf '{SECRET}\\n' > outside.txt"
                           f" && printf 'remote output\\n' > {rid}/out.txt"
                           f" && ln -s {home}/outside.txt {rid}/logs/link.log"
                           f" && ln -s ../out.txt {rid}/logs/inner.log")
    job.set_attribute("output", "out.txt")
    job.set_attribute("error", "../../outside.txt")
    job.set_attribute("log", "logs/link.log")
    job.save()
    job._write_status("RUN")  # running: read on the submit host
    logs = read_logs(job)
    assert logs["output"] == "remote output\n"
    for name in ("error", "log"):
        assert SECRET not in logs[name] and "not available" in logs[name], (name, logs[name])
    job.set_attribute("error", f"{home}/outside.txt")  # absolute on the host
    job.set_attribute("output", "logs/inner.log")  # a symlink staying inside
    job.save()
    logs = read_logs(job)
    assert SECRET not in logs["error"] and "not available" in logs["error"]
    assert logs["output"] == "remote output\n"
    text = job._read_log(job._engine(), "../*.txt")  # a wildcard in a folder outside
    assert SECRET not in text and "not available" in text
    client.force_login(user)
    for name in ("error", "log"):
        shown, downloaded = _served(client, job, [name])
        assert SECRET not in shown and SECRET not in downloaded
    assert _served(client, job, ["output"]) == ("remote output\n", "remote output\n")
