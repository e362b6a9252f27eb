"""Following a running Dask task's own output through the jobs table's endpoints, on a real
cluster on 127.0.0.1: the first view gives the offset, the follow endpoint sends only what
the task printed after it, and the web process never fetches the task's whole output
(models/dask/dask_output.py's OutputLog, jobs_table/follow.py)."""

import json

import pytest
from django.urls import reverse

from tests.engines.dask import work
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.engines.dask import output
from tethys_compute.gizmos import JobsTable
from tethys_compute.models.dask.dask_output import OutputLog

pytestmark = pytest.mark.django_db(transaction=True)

FIRST = "out line 0\nout line 1\nout line 2\n"
REST = "out line 3\nout line 4\nout line 5\n"


def _get(client, job, view, **params):
    token = JobsTable(jobs=[job], column_fields=["id", "name"]).table_config().dumps()
    return client.get(reverse(view), {"config": token, "job_id": job.pk, **params})


def test_a_running_tasks_stdout_is_followed_from_the_offset(make_dask_job, client, user,
                                                            tmp_path, monkeypatch):
    flag = tmp_path / "go"
    job = make_dask_job()
    job.execute(work.chatty, 6, flag=str(flag))
    client.force_login(user)
    # The whole kept output of a task (output.collect) is never fetched for the dialog:
    # only the bytes after the offset (output.read_live).
    whole = []
    collect = output.collect
    monkeypatch.setattr(output, "collect", lambda *a, **k: whole.append(1) or collect(*a, **k))
    assert isinstance(job.get_logs()["stdout"], OutputLog)

    def first_view():
        return _get(client, job, "jobs_table_log_content", path=json.dumps(["stdout"])).json()

    wait_until(lambda: first_view().get("content") == FIRST, message="the first half")
    shown = first_view()
    assert shown["offset"] == len(FIRST)
    logs = json.dumps([{"path": ["stdout"], "offset": shown["offset"]}])
    response = _get(client, job, "jobs_table_log_follow", logs=logs)
    assert response.json()["logs"][0]["content"] == ""
    flag.write_text("go")

    def followed():
        response = _get(client, job, "jobs_table_log_follow", logs=logs)
        return response, response.json()["logs"][0]

    wait_until(lambda: followed()[1]["content"] == REST, message="the rest, followed")
    response, log = followed()
    assert log["offset"] == len(FIRST + REST) and log["skipped"] == 0
    assert b"out line 0" not in response.content  # what the page holds is not sent again
    assert whole == []
