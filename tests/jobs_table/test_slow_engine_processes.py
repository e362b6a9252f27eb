"""One refresh per scheduler at a time across processes: two server processes polling
the same scheduler's jobs, whose engine answers only when the test lets it, start one
engine query between them, and every poll answers within the budget."""

import time

import pytest

from tests.testapp.engine import FakeEngine

pytestmark = pytest.mark.slow

BUDGET = 1.0
SLACK = 3.0  # a loaded machine: two server processes and the test on two cores
CSRF = "a" * 32  # the CSRF secret sent as cookie and header


def _poll(server, session, token, ids):
    headers = {"Cookie": f"sessionid={session}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
    started = time.monotonic()
    status, body = server.request("POST", "/jobs-table/poll/", headers=headers,
                                  json_body={"config": token,
                                             "rows": {str(i): "" for i in ids}})
    return status, body, time.monotonic() - started


def test_two_processes_start_one_refresh_of_a_slow_scheduler(live_project, tmp_path):
    # Two jobs a poll: without a lease on the scheduler, each poll would start a query
    # for the next two jobs while the first query still waits.
    project = live_project(JOBS_TABLE_REFRESH_BUDGET=BUDGET, JOBS_TABLE_REFRESH_BATCH=2)
    engine = FakeEngine(project.engine_dir)
    jobs = project.ops("create", count=6, schedulers=["alpha"], age=600)
    ids = [job["id"] for job in jobs]
    gate = tmp_path / "gate"
    engine.set_gate("alpha", gate)
    session = project.ops("session")
    token = project.ops("table_token", ids=ids)
    servers = [project.start_server("first"), project.start_server("second")]

    for _ in range(3):
        for server in servers:
            status, body, seconds = _poll(server, session, token, ids)
            assert status == 200, body
            assert seconds < BUDGET + SLACK, seconds
    assert (tmp_path / "gate.waiting").exists()  # the query did start, and is waiting

    gate.touch()
    deadline = time.monotonic() + 60
    while not engine.queries() or project.ops("leases"):
        assert time.monotonic() < deadline, "the refresh did not end"
        time.sleep(0.1)
    queries = [query for query in engine.queries() if query["scheduler"] == "alpha"]
    assert len(queries) == 1, queries
    assert len(queries[0]["keys"]) == 2
