"""Deletes from the jobs table while other processes write to the same SQLite file: every
delete answers 200 and removes its job, never a 500 ("database is locked")."""

import json
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.slow

CSRF = "a" * 32  # the CSRF secret sent as cookie and header


def test_deletes_racing_other_writers_never_answer_500(live_project, tmp_path):
    project = live_project()
    doomed = [job["id"] for job in project.ops("create", count=16, status="COM")]
    busy = [job["id"] for job in project.ops("create", count=2, status="RUN")]
    token = project.ops("table_token", ids=doomed)
    session = project.ops("session")
    server = project.start_server()
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-m", "tests.testapp.ops", "churn",
                                 json.dumps({"ids": busy, "stop": str(stop)})],
                                env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120  # both writers are under way
        while len(list(tmp_path.glob("stop.*"))) < len(writers):
            assert time.monotonic() < deadline, "the writers did not start"
            assert all(writer.poll() is None for writer in writers), [
                writer.communicate()[1][-2000:] for writer in writers if writer.poll() is not None]
            time.sleep(0.05)
        headers = {"Cookie": f"sessionid={session}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
        answers = []

        def delete(ids):
            for job_id in ids:
                answers.append(server.request("POST", "/jobs-table/action/", headers=headers,
                                              data={"config": token, "job_id": job_id,
                                                    "action": "delete"}))

        threads = [threading.Thread(target=delete, args=(doomed[i::2],)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        stop.touch()
        outcomes = [writer.communicate(timeout=120) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outcomes
    assert sorted(status for status, _ in answers) == [200] * len(doomed), answers
    assert all(body["success"] is True for _, body in answers), answers
    churned = [json.loads(out) for out, _ in outcomes]
    assert all(done["commits"] > 0 and done["locked"] == 0 for done in churned), churned
    assert project.ops("show", ids=doomed) == {}
    assert len(project.ops("show", ids=busy)) == 2
