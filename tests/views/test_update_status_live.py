"""The status callback endpoints served by a real server process (``runserver`` on a free
127.0.0.1 port), with the monitor run as its own process: every answer code over HTTP,
token replay, reports after the end, tokens kept out of the server's log, concurrent
refresh requests, and ``?delay=`` surviving a kill and restart of the server.
"""

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from tests.testapp.engine import FakeEngine

pytestmark = pytest.mark.slow


def show(project, job):
    return project.ops("show", ids=[job["id"]])[str(job["id"])]


def test_every_answer_code_over_http(live_project):
    project = live_project()
    engine = FakeEngine(project.engine_dir)
    first, second = project.ops("create", count=2)
    server = project.start_server()

    assert server.request("GET", "/update-job-status/999999/") == (
        200, {"success": False, "error": "no such job"})  # Tethys: 200, success false
    status, body = server.request("GET", f"/update-job-status/{first['id']}/?delay=soon")
    assert status == 400 and body["error"].startswith("invalid delay")
    assert server.request("GET", f"/update-job-status/{first['id']}/") == (
        200, {"success": True, "refresh": "done"})
    assert server.request("PUT", f"/update-job-status/{first['id']}/")[0] == 405

    report = f"/report-job-status/{first['id']}/"
    bearer = {"Authorization": f"Bearer {first['token']}"}
    assert server.request("POST", report, json_body={"status": "Running", "progress": 20},
                          headers=bearer) == (
        200, {"success": True, "nodes_applied": 0, "post_processing": True,
              "status": "Running"})
    # Replay of another job's token, in every place a token can go.
    assert server.request("POST", report, json_body={"status": "ABT"},
                          headers={"Authorization": f"Bearer {second['token']}"})[0] == 403
    assert server.request("POST", report, data={"status": "ABT",
                                                 "token": second["token"]})[0] == 403
    assert server.request("GET", f"{report}?status=ABT&token={second['token']}")[0] == 403
    status, body = server.request("POST", report, json_body={"status": "Asleep"},
                                  headers=bearer)
    assert (status, body["error"]) == (400, "invalid status: Asleep")

    engine.set_results_available("alpha", True)
    status, body = server.request("GET", f"{report}?status=COM&token={first['token']}")
    # The answer comes once the status is stored; a worker thread processes the results.
    assert (status, body["status"]) == (200, "Complete")
    for _ in range(600):
        if show(project, first)["completion_time"]:
            break
        time.sleep(0.1)
    assert show(project, first)["completion_time"], "results processed after the answer"
    assert server.request("POST", report, json_body={"status": "RUN"}, headers=bearer) == (
        409, {"success": False, "error": "job has already finished"})
    assert server.request("POST", report, json_body={"progress": 90}, headers=bearer)[0] == 409
    stored = show(project, first)
    assert (stored["status"], stored["progress"]) == ("COM", 20)
    assert stored["results"] == f"results of {first['key']}"

    project.ops("delete", ids=[second["id"]])
    assert server.request("POST", f"/report-job-status/{second['id']}/",
                          json_body={"status": "RUN", "token": second["token"]}) == (
        404, {"success": False, "error": "no such job"})

    project.stop(server.process)
    _out, log = project.output(server.process)
    assert f"/report-job-status/{first['id']}/?status=COM&token=[redacted]" in log
    for job in (first, second):
        assert job["token"] not in log
        assert job["token"].split(":")[-1] not in log


def test_concurrent_refresh_requests_ask_the_engine_once(live_project):
    project = live_project(CALLBACK_REFRESH_TIMEOUT=5)
    engine = FakeEngine(project.engine_dir)
    (job,) = project.ops("create", count=1, state="running")
    engine.set_latency("alpha", 0.5)
    server = project.start_server()
    answers = []
    barrier = threading.Barrier(8)

    def ask():
        barrier.wait()
        answers.append(server.request("GET", f"/update-job-status/{job['id']}/"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8 and all(status == 200 for status, _ in answers)
    assert [body["refresh"] for _, body in answers].count("done") >= 1
    assert [q["keys"] for q in engine.queries()] == [[job["key"]]]
    assert show(project, job)["status"] == "RUN"


def test_delay_survives_a_restart_of_the_server_process(live_project):
    # Statuses are rate-limited to one check an hour: only the delayed request can
    # make the monitor ask the engine before then.
    project = live_project(UPDATE_STATUS_INTERVAL=3600)
    engine = FakeEngine(project.engine_dir)
    # Two server processes and a monitor process start before the delay is due: on a loaded
    # machine that took over 20 s, so a run that was too slow is repeated with a new job and
    # a longer delay (every assertion still holds for the run that counts).
    for delay in (20, 60, 180):
        if _delay_survives_a_restart(project, engine, delay):
            return
    raise AssertionError("the machine was too slow for this test even with a 180 s delay")


def _delay_survives_a_restart(project, engine, delay):
    """One run of the scenario; False when the machine was too slow to see the delay
    before it was due (the job is then deleted)."""
    engine.clear_journal()
    (job,) = project.ops("create", count=1, age=1)
    engine.set_state("alpha", job["key"], "done")
    server = project.start_server(f"server-1-{delay}")
    url = f"/update-job-status/{job['id']}/"

    assert server.request("GET", url) == (200, {"success": True, "refresh": "skipped"})
    status, body = server.request("GET", url + f"?delay={delay}")
    assert (status, body["success"]) == (200, "scheduled")
    refresh_at = body["refresh_at"]

    project.stop(server.process)  # SIGKILL: nothing in the process survives
    server = project.start_server(f"server-2-{delay}")
    status, body = server.request("GET", url + f"?delay={delay * 30}")  # merges into the earlier one
    assert body["refresh_at"] == refresh_at
    assert show(project, job)["refresh_requested_at"] == refresh_at

    early = project.manage("tethys_compute_monitor", "--once")
    assert early.returncode == 0, early.stderr
    wait = (datetime.fromisoformat(refresh_at) - datetime.now().astimezone()).total_seconds()
    if wait <= 0:  # the early monitor may have run after it was due: not a check of it
        project.stop(server.process)
        project.ops("delete", ids=[job["id"]])
        return False
    assert show(project, job)["status"] == "SUB"  # not due yet, and rate-limited
    assert engine.queries() == []

    time.sleep(max(wait, 0) + 0.2)
    due = project.manage("tethys_compute_monitor", "--once")
    assert due.returncode == 0, due.stderr
    assert "checked 1 jobs, changed 1, errors 0" in due.stdout
    stored = show(project, job)
    assert stored["status"] == "COM" and stored["completion_time"] is not None
    assert stored["refresh_requested_at"] is None
    assert [q["keys"] for q in engine.queries()] == [[job["key"]]]
    assert datetime.fromisoformat(stored["last_status_update"]) >= (
        datetime.fromisoformat(refresh_at) - timedelta(seconds=0.01))
    assert json.loads(json.dumps(stored))  # the row reads back cleanly
    return True


def documented_snippets():
    """The curl and Python snippets of JobManager.get_job_status_report_url's docstring."""
    import inspect

    from tethys_compute.job_manager import JobManager

    doc = inspect.getdoc(JobManager.get_job_status_report_url)
    blocks, current = [], None
    for line in doc.splitlines():
        if line.endswith("::"):
            current = []
            blocks.append(current)
        elif current is not None and (line.startswith("    ") or not line.strip()):
            if line.strip():
                current.append(line[4:])
        else:
            current = None
    curl, python = ("\n".join(block) for block in blocks)
    return curl, python


def test_documented_compute_node_snippets_work(live_project):
    curl, python = documented_snippets()
    assert curl.startswith("curl ") and python.startswith("import ")
    project = live_project()
    (job,) = project.ops("create", count=1)
    server = project.start_server()
    env = dict(project.env, REPORT_URL=f"{server.base_url}/report-job-status/{job['id']}/",
               REPORT_TOKEN=job["token"])
    done = subprocess.run(["bash", "-c", curl], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "Running"
    stored = show(project, job)
    assert (stored["status"], stored["progress"]) == ("RUN", 40)
    FakeEngine(project.engine_dir).set_results_available("alpha", True)
    done = subprocess.run([sys.executable, "-c", python], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stored = show(project, job)
    assert (stored["status"], stored["progress"]) == ("COM", 100)
