"""The status callback endpoints through Django's test client (views/update_status.py).

update-job-status: answers, rate limit, bounded waiting, ``?delay=`` requests.
report-job-status: Tethys's answer codes, tokens (replay across jobs, expiry, Bearer),
reports after the end, progress, node statuses, and tokens kept out of logs.
A real server process is driven in test_update_status_live.py.
"""

import json
import logging
import time
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.fixtures import age, make_jobs, row
from tethys_compute.models import BasicJob, JobStatusChange, TethysJob
from tethys_compute.monitor import run_cycle
from tethys_compute.views.update_status import refresh_threads

pytestmark = pytest.mark.django_db


def update_url(job_id):
    return f"/update-job-status/{job_id}/"


def report_url(job_id):
    return f"/report-job-status/{job_id}/"


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # compute nodes have no CSRF cookie


@pytest.fixture
def callback_settings(settings):
    def apply(**values):
        settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, **values}
    return apply


@pytest.fixture(autouse=True)
def _no_refresh_left_running():
    yield
    assert refresh_threads.wait(10), "a callback refresh thread is still running"


def basic(user, status="RUN", **fields):
    return BasicJob.objects.create(name="basic", user=user, label="test_app", _status=status,
                                   **fields)


def history(job):
    return list(JobStatusChange.objects.filter(job_id=job.pk).values_list("new_status", flat=True))


# === update-job-status =====================================================================

@pytest.mark.parametrize("job_id", ["999999", "abc", "12a", "-1", "99999999999999999999"])
@pytest.mark.parametrize("query", [{}, {"delay": "5"}])
def test_update_unknown_job_answers_200_success_false_as_tethys(client, job_id, query):
    # Tethys answers 200 {"success": false}; compute-node scripts run `curl -f` on it.
    response = client.get(update_url(job_id), query)
    assert response.status_code == 200
    assert response.json() == {"success": False, "error": "no such job"}


def test_update_rejects_other_methods(client, user):
    response = client.put(update_url(basic(user).pk))
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"


def test_update_job_without_engine_or_finished_needs_nothing(client, user):
    for job in (basic(user), basic(user, status="COM", completion_time=timezone.now())):
        response = client.get(update_url(job.pk))
        assert response.json() == {"success": True, "refresh": "not-needed"}


@pytest.mark.django_db(transaction=True)
def test_update_refreshes_a_due_job_and_answers_done(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, state="running")
    response = client.post(update_url(job.pk))
    assert response.status_code == 200
    assert response.json() == {"success": True, "refresh": "done"}
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert row(job)._status == "RUN"
    assert row(job).lease_owner is None


@pytest.mark.django_db(transaction=True)
def test_update_is_rate_limited_per_job_and_idempotent(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, state="running")
    (other,) = make_jobs(fake_engine, user, 1, state="running")
    answers = [client.get(update_url(job.pk)).json()["refresh"] for _ in range(5)]
    assert answers == ["done", "skipped", "skipped", "skipped", "skipped"]
    assert client.get(update_url(other.pk)).json()["refresh"] == "done"  # per job
    assert [q["keys"] for q in fake_engine.queries()] == [[job.key], [other.key]]


def test_update_not_due_costs_one_query_and_no_engine_call(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(update_url(job.pk))
    assert response.json() == {"success": True, "refresh": "skipped"}
    assert len(ctx.captured_queries) == 1
    assert fake_engine.queries() == []


@pytest.mark.django_db(transaction=True)
def test_update_takes_no_state_from_the_caller(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, state="queued")
    client.get(update_url(job.pk), {"status": "COM", "token": "x"})
    client.post(update_url(job.pk), {"status": "Complete"})
    assert row(job)._status == "SUB"


@pytest.mark.django_db(transaction=True)
def test_update_never_waits_on_the_engine_longer_than_the_timeout(
        client, user, fake_engine, callback_settings):
    callback_settings(CALLBACK_REFRESH_TIMEOUT=0.2)
    (job,) = make_jobs(fake_engine, user, 1, state="running")
    fake_engine.set_latency("alpha", 1.5)
    started = time.monotonic()
    response = client.get(update_url(job.pk))
    waited = time.monotonic() - started
    assert response.json() == {"success": True, "refresh": "running"}
    assert waited < 1.0
    assert refresh_threads.wait(10)
    assert row(job)._status == "RUN"  # the refresh finished in the background
    assert row(job).lease_owner is None


@pytest.mark.django_db(transaction=True)
def test_update_hands_the_refresh_to_the_monitor_when_workers_are_busy(
        client, user, fake_engine, callback_settings):
    callback_settings(CALLBACK_REFRESH_TIMEOUT=0.05, CALLBACK_REFRESH_WORKERS=1)
    slow, later = make_jobs(fake_engine, user, 2, schedulers=("slow", "fast"), state="running")
    fake_engine.set_latency("slow", 1.0)
    assert client.get(update_url(slow.pk)).json()["refresh"] == "running"
    assert client.get(update_url(later.pk)).json()["refresh"] == "queued"
    requested = row(later).refresh_requested_at
    assert requested is not None and requested <= timezone.now()
    assert row(later)._status == "SUB"
    assert refresh_threads.wait(10)
    run_cycle()
    assert row(later)._status == "RUN" and row(later).refresh_requested_at is None


# --- ?delay= -------------------------------------------------------------------------------

def test_delay_is_stored_for_the_monitor(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1, state="running")
    before = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(update_url(job.pk), {"delay": "30"})
    body = response.json()
    assert response.status_code == 200 and body["success"] == "scheduled"
    due = row(job).refresh_requested_at
    assert before + timedelta(seconds=30) <= due <= timezone.now() + timedelta(seconds=30)
    assert body["refresh_at"] == due.isoformat()
    assert len(ctx.captured_queries) == 2  # load + one conditional UPDATE
    assert fake_engine.queries() == [] and row(job)._status == "SUB"


def test_delay_requests_merge_to_the_earliest(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1)
    first = client.get(update_url(job.pk), {"delay": "60"}).json()["refresh_at"]
    for delay in ("120", "60", "3000"):
        assert client.get(update_url(job.pk), {"delay": delay}).json()["refresh_at"] == first
    assert row(job).refresh_requested_at.isoformat() == first
    sooner = client.get(update_url(job.pk), {"delay": "5"}).json()["refresh_at"]
    assert sooner < first and row(job).refresh_requested_at.isoformat() == sooner


def test_delay_is_capped(client, user, fake_engine, callback_settings):
    callback_settings(CALLBACK_MAX_DELAY=100)
    (job,) = make_jobs(fake_engine, user, 1, age=1)
    client.get(update_url(job.pk), {"delay": "1e9"})
    assert row(job).refresh_requested_at <= timezone.now() + timedelta(seconds=100)


@pytest.mark.parametrize("delay", ["-1", "soon", "nan", "inf", ""])
def test_bad_delay_answers_400(client, user, fake_engine, delay):
    (job,) = make_jobs(fake_engine, user, 1, age=1)
    response = client.get(update_url(job.pk), {"delay": delay})
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid delay")
    assert row(job).refresh_requested_at is None


def test_delay_on_a_finished_job_stores_nothing(client, user):
    job = basic(user, status="COM", completion_time=timezone.now())
    response = client.get(update_url(job.pk), {"delay": "10"})
    assert response.json() == {"success": True, "refresh": "not-needed"}
    assert row(job).refresh_requested_at is None


def test_delayed_refresh_is_carried_out_by_the_monitor(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, age=1, state="running")
    client.get(update_url(job.pk), {"delay": "0"})
    run_cycle()
    assert row(job)._status == "RUN" and row(job).refresh_requested_at is None


# === report-job-status =====================================================================

def report(client, job_id, token=None, how="json", **fields):
    """Send a report: as a JSON body, a form body, a query string (GET) or with the
    token in an Authorization header (``how="bearer"``, JSON body)."""
    if how == "get":
        return client.get(report_url(job_id), {**fields, "token": token})
    if how == "form":
        return client.post(report_url(job_id), {**fields, "token": token})
    headers = {}
    body = dict(fields)
    if how == "bearer":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    else:
        body["token"] = token
    return client.post(report_url(job_id), json.dumps(body), content_type="application/json",
                       **headers)


@pytest.mark.parametrize("how", ["json", "form", "get", "bearer"])
def test_report_with_the_jobs_token_sets_the_status(client, user, how):
    job = basic(user, status="SUB")
    response = report(client, job.pk, job.status_report_token, how, status="Running")
    assert response.status_code == 200
    assert response.json() == {"success": True, "nodes_applied": 0, "post_processing": True,
                               "status": "Running"}
    assert row(job)._status == "RUN" and row(job).start_time is not None
    change = JobStatusChange.objects.filter(job_id=job.pk).last()
    assert change.reason == "reported by compute node"


def test_report_accepts_codes_and_display_names(client, user):
    job = basic(user, status="SUB")
    assert report(client, job.pk, job.status_report_token, status="RUN").status_code == 200
    assert report(client, job.pk, job.status_report_token, status="Various").status_code == 200
    assert history(job)[-2:] == ["RUN", "VAR"]


def test_report_by_post_with_query_string_fields_as_tethys_reporters_send(client, user):
    job = basic(user, status="SUB")
    url = f"{report_url(job.pk)}?token={job.status_report_token}&status=RUN"
    assert client.post(url).status_code == 200
    assert row(job)._status == "RUN"


@pytest.mark.parametrize("token", [None, "", "garbage", "1:abc:def"])
def test_report_without_a_valid_token_is_403(client, user, token):
    job = basic(user, status="SUB")
    response = report(client, job.pk, token, status="COM")
    assert response.status_code == 403
    assert response.json() == {"success": False, "error": "invalid token"}
    assert row(job)._status == "SUB"


def test_token_of_another_job_is_refused_and_changes_neither_job(client, user, other_user):
    mine = basic(user, status="RUN")
    theirs = basic(other_user, status="RUN")
    for how in ("json", "form", "get", "bearer"):
        response = report(client, theirs.pk, mine.status_report_token, how, status="ABT",
                          progress=50)
        assert response.status_code == 403
    assert row(mine)._status == row(theirs)._status == "RUN"
    assert row(mine).progress is None and row(theirs).progress is None


def test_token_signed_for_another_purpose_or_expired_is_refused(client, user, monkeypatch):
    job = basic(user, status="RUN")
    wrong_salt = signing.dumps(str(job.pk))
    assert report(client, job.pk, wrong_salt, status="COM").status_code == 403
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 31 * 24 * 3600)
    old_token = job.status_report_token  # made 31 days ago; tokens last 30
    monkeypatch.setattr(signing.time, "time", real_time)
    assert report(client, job.pk, old_token, status="COM").status_code == 403
    assert row(job)._status == "RUN"


def test_bearer_header_wins_over_a_body_token(client, user):
    job, other = basic(user, status="SUB"), basic(user, status="SUB")
    response = client.post(
        report_url(job.pk),
        json.dumps({"status": "RUN", "token": job.status_report_token}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other.status_report_token}",
    )
    assert response.status_code == 403


@pytest.mark.parametrize("fields, error", [
    ({"status": "Sleeping"}, "invalid status: Sleeping"),
    ({"status": ""}, "invalid status: "),
    ({}, "invalid status: None"),
    ({"progress": "-1"}, "invalid progress"),
    ({"progress": "101"}, "invalid progress"),
    ({"progress": "lots"}, "invalid progress"),
    ({"progress_message": "half way"}, "progress_message needs a progress value"),
    ({"node_statuses": "{not json"}, "invalid node_statuses"),
    ({"node_statuses": "[1, 2]"}, "invalid node_statuses"),
    ({"node_statuses": '{"a": 1}'}, "invalid node_statuses"),
])
def test_bad_report_is_400_and_changes_nothing(client, user, fields, error):
    job = basic(user, status="SUB")
    response = report(client, job.pk, job.status_report_token, "form", **fields)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"].startswith(error)
    stored = row(job)
    assert stored._status == "SUB" and stored.progress is None


@pytest.mark.parametrize("node_statuses", ["{not json", "[1, 2]", '{"a": 1}'])
@pytest.mark.parametrize("how", ["form", "get"])
def test_malformed_node_statuses_do_not_lose_the_reported_status(client, user, node_statuses,
                                                                  how):
    # Tethys applies the status, answers 200 and counts no node.
    job = basic(user, status="SUB")
    response = report(client, job.pk, job.status_report_token, how, status="Running",
                      node_statuses=node_statuses)
    assert response.status_code == 200
    assert response.json()["nodes_applied"] == 0 and response.json()["success"] is True
    assert row(job)._status == "RUN"


@pytest.mark.parametrize("body", [b"{broken", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_body_is_400(client, user, body):
    job = basic(user, status="SUB")
    response = client.post(report_url(job.pk), body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {job.status_report_token}")
    assert response.status_code == 400


def test_report_refuses_methods_that_should_not_change_state(client, user):
    job = basic(user, status="SUB")
    url = f"{report_url(job.pk)}?status=RUN&token={job.status_report_token}"
    for method in (client.head, client.put, client.delete):
        response = method(url)
        assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert row(job)._status == "SUB"


def test_json_boolean_progress_is_400(client, user):
    job = basic(user, status="RUN")
    assert report(client, job.pk, job.status_report_token, progress=True).status_code == 400


def test_report_about_a_deleted_job_is_404(client, user):
    job = basic(user, status="RUN")
    token, job_id = job.status_report_token, job.pk
    job.delete()
    response = report(client, job_id, token, status="COM")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "no such job"}


def test_custom_status_of_the_jobs_class_is_accepted(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1)
    response = report(client, job.pk, job.status_report_token, status="Staging")
    assert response.status_code == 200 and response.json()["status"] == "Staging"
    assert row(job)._status == "OTH" and row(job).other_status == "Staging"
    other = basic(user, status="SUB")  # "Staging" is registered on FakeEngineJob only
    response = report(client, other.pk, other.status_report_token, status="Staging")
    assert response.status_code == 400


# --- reports after the end -----------------------------------------------------------------

@pytest.mark.parametrize("fields", [
    {"status": "Running"},
    {"status": "Error"},
    {"progress": 10},
    {"node_statuses": '{"a": "Running"}'},
])
def test_report_after_the_end_is_409_and_changes_nothing(client, user, fields):
    job = basic(user, status="SUB")
    job.status = "Complete"
    before = row(job)
    changes = JobStatusChange.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        response = report(client, job.pk, job.status_report_token, "form", **fields)
    assert response.status_code == 409
    assert response.json() == {"success": False, "error": "job has already finished"}
    after = row(job)
    assert (after._status, after.completion_time, after.progress, after.status_message) == (
        before._status, before.completion_time, before.progress, before.status_message)
    assert JobStatusChange.objects.count() == changes
    assert not [q for q in ctx.captured_queries if not q["sql"].startswith("SELECT")]


def test_repeating_the_final_status_is_accepted_and_changes_nothing(client, user):
    job = basic(user, status="SUB")
    job.status = "Complete"
    with CaptureQueriesContext(connection) as ctx:
        response = report(client, job.pk, job.status_report_token, status="COM")
    assert response.status_code == 200
    assert response.json()["status"] == "Complete" and response.json()["post_processing"]
    assert len(ctx.captured_queries) == 1
    assert history(job) == ["COM"]


def test_report_that_loses_a_race_with_the_end_is_409(client, user, monkeypatch):
    job = basic(user, status="RUN")
    stale = TethysJob.objects.get_subclass(pk=job.pk)  # loaded before the job ended
    job.status = "Aborted"
    monkeypatch.setattr("tethys_compute.views.update_status.load_job", lambda job_id: stale)
    response = report(client, job.pk, job.status_report_token, status="Paused", progress=30)
    assert response.status_code == 409
    assert row(job)._status == "ABT" and row(job).progress is None


# --- progress, node statuses, result processing ----------------------------------------------

def test_progress_goes_through_set_progress(client, user, monkeypatch):
    job = basic(user, status="RUN")
    calls = []
    real = BasicJob.set_progress
    monkeypatch.setattr(BasicJob, "set_progress",
                        lambda self, p, m=None: (calls.append((p, m)), real(self, p, m))[1])
    response = report(client, job.pk, job.status_report_token, progress=42.6,
                      progress_message="step 3 of 7")
    assert response.status_code == 200 and response.json()["status"] == "Running"
    assert calls == [(42.6, "step 3 of 7")]
    stored = row(job)
    assert (stored.progress, stored.progress_message) == (43, "step 3 of 7")
    report(client, job.pk, job.status_report_token, "form", progress="80")
    assert (row(job).progress, row(job).progress_message) == (80, "step 3 of 7")


def test_final_status_and_progress_are_written_in_one_update(client, user):
    job = basic(user, status="RUN", progress=90, progress_message="writing result.json")
    with CaptureQueriesContext(connection) as queries:
        response = report(client, job.pk, job.status_report_token, status="Complete",
                          progress=100, progress_message="done")
    assert response.status_code == 200 and response.json()["status"] == "Complete"
    updates = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith('UPDATE "tethys_compute_tethysjob"')]
    # Nobody can read the job Complete at 90 %: status and progress move together (the
    # other updates are result processing's claim and outcome).
    moves = [sql for sql in updates if '"_status" =' in sql or '"progress" =' in sql]
    assert len(moves) == 1 and '"_status" =' in moves[0] and '"progress" =' in moves[0]
    stored = row(job)
    assert (stored._status, stored.progress, stored.progress_message) == ("COM", 100, "done")


def test_unchanged_report_costs_one_query_and_no_write(client, user):
    job = basic(user, status="RUN", progress=50, progress_message="half")
    with CaptureQueriesContext(connection) as ctx:
        response = report(client, job.pk, job.status_report_token, "bearer", status="RUN",
                          progress=50, progress_message="half")
    assert response.status_code == 200
    assert len(ctx.captured_queries) == 1


def test_node_statuses_go_to_apply_node_statuses(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, extended_properties={"nodes": ["prep", "run"]})
    response = report(client, job.pk, job.status_report_token, status="VAR",
                      node_statuses={"prep": "Completed", "run": "Running", "ghost": "Idle"})
    assert response.json()["nodes_applied"] == 2
    stored = row(job)
    assert stored._status == "VAR"
    assert stored.extended_properties["node_statuses"] == {"prep": "Completed", "run": "Running"}


def test_failing_node_statuses_are_logged_and_the_status_still_applied(
        client, user, fake_engine, caplog):
    (job,) = make_jobs(fake_engine, user, 1, extended_properties={"nodes": ["prep"]})
    with caplog.at_level(logging.ERROR, logger="tethys_compute.callbacks"):
        response = report(client, job.pk, job.status_report_token, "form", status="RUN",
                          node_statuses='{"prep": "12"}')
    assert response.status_code == 200 and response.json()["nodes_applied"] == 0
    assert row(job)._status == "RUN"
    assert "applying reported node statuses failed" in caplog.text


def test_job_without_nodes_applies_none(client, user):
    job = basic(user, status="RUN")
    response = report(client, job.pk, job.status_report_token, node_statuses={"a": "Running"})
    assert response.json()["nodes_applied"] == 0


@pytest.mark.django_db(transaction=True)
def test_completion_report_processes_results_within_the_timeout(
        client, user, fake_engine, callback_settings):
    callback_settings(CALLBACK_REFRESH_TIMEOUT=0.2)
    (job,) = make_jobs(fake_engine, user, 1, status="RUN")
    fake_engine.set_latency("alpha", 1.5)  # fetching results is slow
    started = time.monotonic()
    response = report(client, job.pk, job.status_report_token, status="Complete")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert response.json()["status"] == "Complete"
    assert response.json()["post_processing"] is False
    assert refresh_threads.wait(10)
    stored = row(job)
    assert stored.completion_time is not None and stored.results == f"results of {job.key}"


@pytest.mark.django_db(transaction=True)
def test_repeated_final_report_retries_incomplete_result_processing(client, user, fake_engine):
    (job,) = make_jobs(fake_engine, user, 1, status="RUN")
    fake_engine.set_results_available("alpha", False)
    first = report(client, job.pk, job.status_report_token, status="COM").json()
    assert first["post_processing"] is False
    assert refresh_threads.wait(10)  # the processing was handed to a worker thread
    assert row(job)._results_state == "retry"
    fake_engine.set_results_available("alpha", True)
    age(job)
    again = report(client, job.pk, job.status_report_token, status="Complete")
    assert again.status_code == 200 and again.json()["post_processing"] is True
    assert row(job).completion_time is not None
    assert history(job) == ["COM"]


# --- tokens never logged ---------------------------------------------------------------------

def test_tokens_never_appear_in_logs(client, user, fake_engine, caplog):
    job = basic(user, status="SUB")
    (workflow,) = make_jobs(fake_engine, user, 1, extended_properties={"nodes": ["a"]})
    other = basic(user, status="COM", completion_time=timezone.now())
    tokens = [job.status_report_token, workflow.status_report_token, other.status_report_token]
    with caplog.at_level(logging.DEBUG):
        report(client, job.pk, tokens[0], "get", status="Bogus")           # 400
        report(client, job.pk, tokens[1], "form", status="RUN")            # 403 (replay)
        report(client, other.pk, tokens[2], "bearer", status="RUN")        # 409
        report(client, workflow.pk, tokens[1], "json", status="RUN",
               node_statuses={"a": "1"})                                   # logged failure
        report(client, job.pk, tokens[0], "get", status="COM")             # 200
        client.get(update_url(job.pk), {"token": tokens[0]})
    # What handlers write: formatted messages, their arguments, tracebacks. (Django's
    # django.request records also carry the request object; a GET report's URL holds its
    # token by Tethys's design, which is why POST with a Bearer header is documented.)
    text = caplog.text + " ".join(
        repr(r.args) + r.getMessage() + repr(r.exc_info) for r in caplog.records)
    assert caplog.records  # something was logged (4xx warnings, the node failure)
    for token in tokens:
        assert token not in text
        assert token.split(":")[-1] not in text  # not even the signature
