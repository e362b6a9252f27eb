"""Following a running job's logs: ``jobs-table/logs/follow/`` reads each log the dialog
holds from the byte offset the browser holds (a local file, a file on a remote submit host
over SFTP, a text log), never re-sending what it already has, with the tail limit, a
restart after truncation, and a clear 400 for bad offsets."""

import json
import os

import pytest
from django.urls import reverse

from tests.htcondor_standin.scenarios import condor_job, remote, remote_scheduler
from tethys_compute.engines.condor import ssh
from tethys_compute.gizmos import JobsTable
from tethys_compute.models import BasicJob

pytestmark = pytest.mark.django_db

OLD = "".join(f"old line {i:04d}\n" for i in range(400))  # 5.6 kB already held


def _token(job):
    return JobsTable(jobs=[job], column_fields=["id", "name"]).table_config().dumps()


def follow(client, job, logs, token=None):
    """GET the follow endpoint for ``logs``: ``[(path list, offset), ...]``."""
    return client.get(reverse("jobs_table_log_follow"), {
        "config": token or _token(job), "job_id": job.pk,
        "logs": json.dumps([{"path": path, "offset": offset} for path, offset in logs])})


def content(client, job, path):
    return client.get(reverse("jobs_table_log_content"), {
        "config": _token(job), "job_id": job.pk, "path": json.dumps(path)}).json()


@pytest.fixture
def local_job(user, client):
    job = condor_job(user, "follow me", attributes={"output": "job.out", "error": "job.err"})
    os.makedirs(job.initial_dir, exist_ok=True)
    job.out = os.path.join(job.initial_dir, "job.out")
    with open(job.out, "w") as handle:
        handle.write(OLD)
    job._write_status("RUN")
    client.force_login(user)
    return job


def append(path, text):
    with open(path, "a") as handle:
        handle.write(text)


def test_follow_sends_only_what_was_written_after_the_offset(client, local_job):
    first = content(client, local_job, ["output"])
    assert first["content"] == OLD and first["offset"] == len(OLD)
    append(local_job.out, "new line 1\n")
    response = follow(client, local_job, [(["output"], first["offset"])])
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["active"] is True
    (log,) = body["logs"]
    assert log == {"path": ["output"], "content": "new line 1\n", "offset": len(OLD) + 11,
                   "size": len(OLD) + 11, "skipped": 0, "reset": False, "truncated": False}
    assert len(response.content) < 400  # the 5.6 kB already held are not sent again
    again = follow(client, local_job, [(["output"], log["offset"])]).json()
    assert again["logs"][0]["content"] == "" and again["logs"][0]["offset"] == log["offset"]


def test_one_request_follows_every_log_held(client, local_job):
    with open(os.path.join(local_job.initial_dir, "job.err"), "w") as handle:
        handle.write("err 1\n")
    append(local_job.out, "more\n")
    body = follow(client, local_job, [(["output"], len(OLD)), (["error"], 0),
                                      (["log"], 0)]).json()
    out, err, log = body["logs"]
    assert out["content"] == "more\n" and err["content"] == "err 1\n"
    assert log["path"] == ["log"] and log["content"] == "" and "does not exist" in log["unavailable"]


def test_over_the_limit_only_the_end_is_sent_with_the_gap_size(client, local_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_LOG_MAX_BYTES": 1000}
    burst = "".join(f"burst {i:05d}\n" for i in range(1000))  # 12 kB since the last read
    append(local_job.out, burst)
    response = follow(client, local_job, [(["output"], len(OLD))])
    (log,) = response.json()["logs"]
    assert len(log["content"]) == 1000 and burst.endswith(log["content"])
    assert log["skipped"] == len(burst) - 1000 and log["offset"] == len(OLD) + len(burst)
    assert len(response.content) < 1400


def test_a_truncated_or_rotated_log_restarts_from_its_start(client, local_job):
    with open(local_job.out, "w") as handle:
        handle.write("after rotation\n")
    (log,) = follow(client, local_job, [(["output"], len(OLD))]).json()["logs"]
    assert log["reset"] is True and log["content"] == "after rotation\n" and log["offset"] == 15


def test_bad_offsets_and_lists_get_a_clear_400(client, local_job):
    url, token = reverse("jobs_table_log_follow"), _token(local_job)

    def ask(logs):
        return client.get(url, {"config": token, "job_id": local_job.pk, "logs": logs})

    for offset in (-1, "12", 1.5, True, 2**63, [3]):
        response = ask(json.dumps([{"path": ["output"], "offset": offset}]))
        assert response.status_code == 400, offset
        assert "offset" in response.json()["error"]
    for logs in ("not json", "{}", json.dumps([["output"]]), json.dumps([{"path": "output"}]),
                 json.dumps([{"path": [], "offset": 0}]), json.dumps([{"path": [1], "offset": 0}])):
        response = ask(logs)
        assert response.status_code == 400, logs
        assert response.json()["error"].startswith("Malformed")
    too_many = json.dumps([{"path": ["output"], "offset": 0}] * 21)
    assert "at most 20" in ask(too_many).json()["error"]
    # A log the job does not have: named in the answer, nothing read.
    body = ask(json.dumps([{"path": ["nope"], "offset": 0}])).json()
    assert body["logs"] == [{"path": ["nope"], "missing": True}]


def test_offsets_cannot_read_outside_the_jobs_own_logs(client, user, tmp_path, other_user):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET " * 100)
    job = condor_job(user, "escape", attributes={"output": "job.out"})
    os.makedirs(job.initial_dir, exist_ok=True)
    os.symlink(secret, os.path.join(job.initial_dir, "job.out"))
    job._write_status("RUN")
    client.force_login(user)
    for offset in (0, 7, 10**6):
        (log,) = follow(client, job, [(["output"], offset)]).json()["logs"]
        assert "SECRET" not in log["content"] and "not available" in log["unavailable"]
    theirs = condor_job(other_user, "theirs", attributes={"output": "job.out"})
    theirs._write_status("RUN")
    response = follow(client, theirs, [(["output"], 0)], token=_token(job))
    assert response.status_code == 404


def test_text_logs_are_followed_by_their_utf8_offsets(client, user, monkeypatch):
    job = BasicJob(name="texts", user=user, label="test_app")
    job.save()
    job.update_status("RUN")
    text = {"out": "héllo\n"}
    monkeypatch.setattr(BasicJob, "_get_logs", lambda self: {"out": lambda: text["out"]})
    client.force_login(user)
    first = content(client, job, ["out"])
    assert first["offset"] == 7
    text["out"] += "wörld\n"
    (log,) = follow(client, job, [(["out"], 7)]).json()["logs"]
    assert log["content"] == "wörld\n" and log["offset"] == 14


def test_a_finished_job_answers_its_last_output_and_that_it_is_no_longer_active(client,
                                                                                 local_job):
    append(local_job.out, "the end\n")
    local_job._write_status("COM")
    body = follow(client, local_job, [(["output"], len(OLD))]).json()
    assert body["active"] is False and body["status"] == "Complete"
    assert body["logs"][0]["content"] == "the end\n"


def test_the_answer_names_the_logs_so_the_dialog_sees_new_ones(client, local_job, monkeypatch):
    tree = client.get(reverse("jobs_table_logs"), {"config": _token(local_job),
                                                   "job_id": local_job.pk}).json()
    body = follow(client, local_job, [(["output"], 0)]).json()
    assert body["names"] == tree["names"]
    original = type(local_job)._get_logs
    monkeypatch.setattr(type(local_job), "_get_logs",
                        lambda self: {**original(self), "extra": "a new log"})
    assert follow(client, local_job, [(["output"], 0)]).json()["names"] != tree["names"]


def test_follow_over_sftp_reads_from_the_offset_on_the_submit_host(user, client, settings,
                                                                    ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    job = condor_job(user, "remote follow", scheduler=remote_scheduler(ssh_server),
                     attributes={"output": "job.out"})
    job.remote_id = "f" * 32
    job.save()
    folder = f"{job.remote_id}/{job.condorpy_job.initial_dir}"
    ssh_server.run_as_user("sh", "-c", f"mkdir -p {folder} && printf 'first\\nsecond\\n' > "
                                       f"{folder}/job.out")
    job._write_status("RUN")  # running: read on the submit host
    client.force_login(user)
    try:
        first = content(client, job, ["output"])
        assert first["content"] == "first\nsecond\n" and first["offset"] == 13
        ssh_server.run_as_user("sh", "-c", f"printf 'third\\n' >> {folder}/job.out")
        (log,) = follow(client, job, [(["output"], 13)]).json()["logs"]
        assert log["content"] == "third\n" and log["offset"] == 19 and not log["reset"]
        ssh_server.run_as_user("sh", "-c", f"printf 'new\\n' > {folder}/job.out")
        (log,) = follow(client, job, [(["output"], 19)]).json()["logs"]
        assert log["reset"] is True and log["content"] == "new\n" and log["offset"] == 4
        # A symlink on the submit host leading out of the job's directory is not followed.
        ssh_server.run_as_user("sh", "-c", f"printf 'SECRET\\n' > secret.txt && ln -sf "
                                           f"$HOME/secret.txt {folder}/job.out")
        (log,) = follow(client, job, [(["output"], 0)]).json()["logs"]
        assert "SECRET" not in log["content"] and "not available" in log["unavailable"]
    finally:
        ssh.close_all()
        ssh_server.run_as_user("rm", "-rf", job.remote_id, "secret.txt", check=False)
