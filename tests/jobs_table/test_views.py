"""The jobs table endpoints with Django's test client: live updates, actions, access."""

import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from tethys_compute.gizmos import CustomJobAction
from tethys_compute.jobs_table import custom
from tethys_compute.models import BasicJob, JobStatusChange, TethysJob

from . import actions_for_tests as acts

pytestmark = pytest.mark.django_db

NOT_FOUND = {"success": False, "error": "No such job."}


def poll(client, token, rows):
    return client.post(reverse("jobs_table_poll"), data=json.dumps({"config": token, "rows": rows}),
                       content_type="application/json")


def act(client, token, job_id, action):
    return client.post(reverse("jobs_table_action"),
                       {"config": token, "job_id": job_id, "action": action})


def fingerprints(client, token, jobs):
    """The fingerprints the page was rendered with (a first poll with unknown ones)."""
    answer = poll(client, token, {str(job.pk): "" for job in jobs}).json()
    return {key: row["fp"] for key, row in answer["rows"].items()}


# --- poll ----------------------------------------------------------------------------------
def test_poll_answers_only_rows_that_changed(alice_client, make_job, table_token):
    jobs = [make_job(f"job {i}", status="SUB") for i in range(3)]
    token = table_token(jobs)
    fps = fingerprints(alice_client, token, jobs)
    assert len(fps) == 3
    quiet = poll(alice_client, token, fps).json()
    assert quiet == {"success": True, "rows": {}, "gone": [], "active": 3}

    BasicJob.objects.get(pk=jobs[1].pk).update_status("RUN")
    answer = poll(alice_client, token, fps).json()
    assert list(answer["rows"]) == [str(jobs[1].pk)]
    row = answer["rows"][str(jobs[1].pk)]
    assert row["status"] == "Running" and row["active"] is True
    assert 'data-status="RUN"' in row["html"] and "job 1" in row["html"]
    assert row["fp"] != fps[str(jobs[1].pk)]


def test_poll_reports_progress_and_finishing(alice_client, make_job, table_token):
    job = make_job("progress", status="RUN")
    token = table_token([job])
    fps = fingerprints(alice_client, token, [job])
    BasicJob.objects.get(pk=job.pk).set_progress(42, "step 2 of 5")
    row = poll(alice_client, token, fps).json()["rows"][str(job.pk)]
    assert 'aria-valuenow="42"' in row["html"] and "step 2 of 5" in row["html"]
    BasicJob.objects.get(pk=job.pk).update_status("COM")
    answer = poll(alice_client, token, {str(job.pk): row["fp"]}).json()
    assert answer["rows"][str(job.pk)]["active"] is False
    assert answer["active"] == 0


def test_poll_queries_do_not_grow_with_rows(alice_client, make_job, table_token,
                                            django_assert_max_num_queries):
    jobs = [make_job(f"j{i}", status="RUN") for i in range(60)]
    token = table_token(jobs)
    fps = fingerprints(alice_client, token, jobs)
    with django_assert_max_num_queries(10):
        answer = poll(alice_client, token, fps).json()
    assert answer["active"] == 60 and answer["rows"] == {}
    for job in jobs[:30]:
        BasicJob.objects.get(pk=job.pk).update_status("COM")
    with django_assert_max_num_queries(10):
        answer = poll(alice_client, token, fps).json()
    assert len(answer["rows"]) == 30 and answer["active"] == 30


def test_poll_of_foreign_or_missing_rows_reports_them_gone(alice_client, make_job, other_user,
                                                           table_token):
    mine = make_job("mine", status="RUN")
    theirs = make_job("theirs", status="RUN", owner=other_user)
    token = table_token([mine, theirs])
    answer = poll(alice_client, token, {str(mine.pk): "", str(theirs.pk): "", "999999": ""}).json()
    assert list(answer["rows"]) == [str(mine.pk)]
    assert answer["gone"] == sorted([theirs.pk, 999999])


def test_poll_refreshes_stale_jobs_from_their_engine(alice_client, make_job, table_token, engine):
    job = make_job("engine job", status="SUB")
    token = table_token([job])
    fps = fingerprints(alice_client, token, [job])  # not stale yet: no engine query
    assert engine.calls == []
    TethysJob.objects.filter(pk=job.pk).update(_last_status_update="2000-01-01T00:00:00Z")
    engine[job.pk] = "RUN"
    row = poll(alice_client, token, fps).json()["rows"][str(job.pk)]
    assert engine.calls == [job.pk]
    assert row["status"] == "Running"
    assert TethysJob.objects.get(pk=job.pk).lease_owner is None
    # Fresh now: the next poll does not query the engine again.
    poll(alice_client, token, {str(job.pk): row["fp"]})
    assert engine.calls == [job.pk]


def test_poll_method_csrf_auth_and_token(client, user, make_job, table_token):
    job = make_job(status="RUN")
    token = table_token([job])
    assert poll(client, token, {}).status_code == 401
    assert poll(client, token, {}).json() == {"success": False, "error": "Authentication required."}
    client.force_login(user)
    assert client.get(reverse("jobs_table_poll")).status_code == 405
    assert poll(client, token + "x", {}).status_code == 400
    assert client.post(reverse("jobs_table_poll"), data="{not json",
                       content_type="application/json").status_code == 400
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert poll(strict, token, {str(job.pk): ""}).status_code == 403
    strict.get("/admin/login/")  # sets the CSRF cookie
    csrf = strict.cookies["csrftoken"].value
    ok = strict.post(reverse("jobs_table_poll"), content_type="application/json",
                     data=json.dumps({"config": token, "rows": {str(job.pk): ""}}),
                     headers={"X-CSRFToken": csrf})
    assert ok.status_code == 200


def test_poll_row_limit(alice_client, make_job, table_token, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_POLL_MAX_ROWS": 2}
    token = table_token([make_job()])
    assert poll(alice_client, token, {"1": "", "2": "", "3": ""}).status_code == 400


# --- actions -------------------------------------------------------------------------------
def test_run_action_submits_a_pending_job(alice_client, make_job, table_token):
    job = make_job("to run")
    token = table_token([job])
    response = act(alice_client, token, job.pk, "run")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["status"] == "Submitted"
    assert 'data-status="SUB"' in body["html"]
    assert TethysJob.objects.get(pk=job.pk)._status == "SUB"


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [("RUN", "pause", "PAS"), ("PAS", "resume", "RUN"), ("RUN", "terminate", "ABT"),
     ("COM", "resubmit", "RUN")],
)
def test_state_actions(alice_client, make_job, table_token, start, action, end):
    job = make_job(status=start)
    token = table_token([job], actions=["run", "pause", "resume", "resubmit", "terminate"])
    body = act(alice_client, token, job.pk, action).json()
    assert body["success"] is True
    assert TethysJob.objects.get(pk=job.pk)._status == end
    if action == "resubmit":
        assert body["message"] == f"Successfully resubmitted job: {job.pk}."


def test_delete_removes_the_job(alice_client, make_job, table_token):
    job = make_job(status="COM")
    token = table_token([job])
    assert act(alice_client, token, job.pk, "delete").json() == {
        "success": True, "removed": True, "message": ""}
    assert not TethysJob.objects.filter(pk=job.pk).exists()


def test_action_not_applicable_now_is_refused_and_changes_nothing(alice_client, make_job,
                                                                   table_token):
    job = make_job(status="RUN")
    token = table_token([job])
    history = JobStatusChange.objects.filter(job_id=job.pk).count()
    for action in ("run", "delete", "resubmit"):
        response = act(alice_client, token, job.pk, action)
        assert response.status_code == 409
        assert "(status: Running)" in response.json()["error"]
    assert TethysJob.objects.filter(pk=job.pk, _status="RUN").exists()
    assert JobStatusChange.objects.filter(job_id=job.pk).count() == history


def test_foreign_job_answers_exactly_like_a_missing_one(alice_client, make_job, other_user,
                                                        table_token):
    mine = make_job("mine", status="COM")
    theirs = make_job("theirs", status="COM", owner=other_user)
    token = table_token([mine, theirs])
    foreign = act(alice_client, token, theirs.pk, "delete")
    missing = act(alice_client, token, 987654, "delete")
    garbage = act(alice_client, token, "1 or 1=1", "delete")
    for response in (foreign, missing, garbage):
        assert response.status_code == 404
        assert response.content == foreign.content
        assert response.json() == NOT_FOUND
    assert TethysJob.objects.filter(pk=theirs.pk).exists()


def test_only_whitelisted_actions_of_the_table(alice_client, make_job, table_token):
    job = make_job(status="COM")
    token = table_token([job], actions=["resubmit"])
    for name in ("save", "delete", "_execute", "update_status", "logs", "monitor"):
        response = act(alice_client, token, job.pk, name)
        assert response.status_code == 400, name
        assert response.json() == {"success": False, "error": "Unknown action."}
    assert TethysJob.objects.filter(pk=job.pk, _status="COM").exists()


def test_actions_are_post_only(alice_client, make_job, table_token):
    job = make_job(status="COM")
    token = table_token([job])
    url = reverse("jobs_table_action") + f"?config={token}&job_id={job.pk}&action=delete"
    assert alice_client.get(url).status_code == 405
    assert TethysJob.objects.filter(pk=job.pk).exists()


def test_action_without_csrf_token_is_refused(user, make_job, table_token):
    job = make_job(status="COM")
    token = table_token([job])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert act(strict, token, job.pk, "delete").status_code == 403
    assert TethysJob.objects.filter(pk=job.pk).exists()


def test_a_failing_action_reports_an_error_and_leaves_the_job(alice_client, make_job,
                                                              table_token):
    job = make_job(status="COM")
    boom = CustomJobAction("Archive", acts.explode)
    token = table_token([job], actions=[boom])
    response = act(alice_client, token, job.pk, boom.name)
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": f"Unable to archive job {job.pk}."}
    assert TethysJob.objects.filter(pk=job.pk, _status="COM").exists()


def test_custom_action_runs_in_a_process_that_never_built_the_table(
        alice_client, make_job, table_token, monkeypatch):
    job = make_job("report", status="COM")
    archive = CustomJobAction("Archive", acts.archive, enabled_callback=acts.not_archived)
    token = table_token([job], actions=[archive])
    monkeypatch.setattr(custom, "_registry", {})
    body = act(alice_client, token, job.pk, archive.name).json()
    assert body["success"] is True and body["message"] == "Archived report."
    assert TethysJob.objects.get(pk=job.pk).extended_properties["archived"] is True
    # Disabled now (enabled_callback): refused on the server, not only greyed out.
    assert 'data-enabled=""' in body["html"]
    second = act(alice_client, token, job.pk, archive.name)
    assert second.status_code == 409


def test_custom_link_and_modal_actions_are_not_posted(alice_client, make_job, table_token):
    job = make_job(status="COM")
    link = CustomJobAction("Open", "/open/{job_id}/")
    modal = CustomJobAction("Details", modal_url="/details/{job_id}/")
    token = table_token([job], actions=[link, modal])
    for action in (link, modal):
        assert act(alice_client, token, job.pk, action.name).status_code == 400


def test_not_implemented_control_is_a_conflict_not_a_crash(alice_client, make_job, table_token,
                                                           monkeypatch):
    job = make_job(status="RUN")
    token = table_token([job], actions=["terminate"])

    def refuse(self):
        raise NotImplementedError("This engine cannot stop jobs.")

    monkeypatch.setattr(BasicJob, "stop", refuse)
    response = act(alice_client, token, job.pk, "terminate")
    assert response.status_code == 409
    assert response.json()["error"] == "This engine cannot stop jobs."


# --- who may act -----------------------------------------------------------------------------
def test_group_members_may_act_on_shared_jobs(client, make_job, other_user, table_token):
    group = Group.objects.create(name="lab")
    other_user.groups.add(group)
    job = make_job("shared", status="COM")
    job.groups.add(group)
    token = table_token([job])
    client.force_login(other_user)
    assert act(client, token, job.pk, "resubmit").status_code == 200


def test_permission_holders_act_only_within_the_tables_apps(client, make_job, django_user_model,
                                                            table_token):
    admin = django_user_model.objects.create_user("carol", password="pw")
    admin.user_permissions.add(Permission.objects.get(codename="jobs_table_actions"))
    job_a = make_job("a", status="COM", label="test_app")
    job_b = make_job("b", status="COM", label="other_app")
    token_a = table_token([job_a])
    client.force_login(admin)
    assert act(client, token_a, job_a.pk, "resubmit").status_code == 200
    assert act(client, token_a, job_b.pk, "resubmit").json() == NOT_FOUND
    staff = django_user_model.objects.create_user("dave", password="pw", is_staff=True)
    client.force_login(staff)
    assert act(client, token_a, job_a.pk, "resubmit").json() == NOT_FOUND


# --- logs ------------------------------------------------------------------------------------
@pytest.fixture
def logged_job(make_job, monkeypatch):
    job = make_job("logged", status="RUN")
    big = "".join(f"line {i:06d}\n" for i in range(40000))  # 480 kB
    calls = []

    def lazy():
        calls.append(1)
        return "lazy text <b>not bold</b>"

    def _get_logs(self):
        return {"stdout": "hello\n<script>alert(1)</script>",
                "node_a": {"log": lazy, "error": b"bytes \xff err"},
                "big": big}

    monkeypatch.setattr(BasicJob, "_get_logs", _get_logs)
    job.lazy_calls = calls
    job.big = big
    return job


def get_logs(client, token, job_id, view="jobs_table_logs", **params):
    return client.get(reverse(view), {"config": token, "job_id": job_id, **params})


def test_log_tree_inlines_small_logs_and_defers_lazy_and_large(alice_client, logged_job,
                                                               table_token):
    token = table_token([logged_job])
    body = get_logs(alice_client, token, logged_job.pk).json()
    assert body["success"] is True and body["name"] == "logged"
    stdout, node, big = body["logs"]
    assert stdout["content"] == "hello\n<script>alert(1)</script>" and stdout["path"] == ["stdout"]
    assert node["name"] == "node_a" and [c["name"] for c in node["children"]] == ["log", "error"]
    assert node["children"][0] == {"name": "log", "path": ["node_a", "log"], "lazy": True,
                                   "download": node["children"][0]["download"]}
    assert big["lazy"] is True and "content" not in big
    assert logged_job.lazy_calls == []  # listing never calls lazy logs


def test_log_content_lazy_truncated_and_download(alice_client, logged_job, table_token, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_LOG_MAX_BYTES": 1000}
    token = table_token([logged_job])
    lazy = get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                    path=json.dumps(["node_a", "log"])).json()
    assert lazy["content"] == "lazy text <b>not bold</b>" and lazy["truncated"] is False
    assert logged_job.lazy_calls == [1]
    err = get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                   path=json.dumps(["node_a", "error"])).json()
    assert err["content"] == "bytes \ufffd err"
    big = get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                   path=json.dumps(["big"])).json()
    assert big["truncated"] is True and big["size"] == len(logged_job.big)
    assert len(big["content"]) == 1000 and logged_job.big.endswith(big["content"])
    download = alice_client.get(big["download"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/plain; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="job-{logged_job.pk}-big.log"'
    assert download.content.decode() == logged_job.big


def test_log_errors(alice_client, logged_job, make_job, other_user, table_token):
    theirs = make_job("theirs", status="RUN", owner=other_user)
    token = table_token([logged_job, theirs])
    assert get_logs(alice_client, token, theirs.pk).json() == NOT_FOUND
    assert get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                    path=json.dumps(["nope"])).status_code == 404
    assert get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                    path="not json").status_code == 400
    assert get_logs(alice_client, token, logged_job.pk, "jobs_table_log_content",
                    path=json.dumps(["node_a"])).status_code == 404
    pending = make_job("pending")
    assert get_logs(alice_client, table_token([pending]), pending.pk).status_code == 409
    no_logs = table_token([logged_job], actions=["run"])
    assert get_logs(alice_client, no_logs, logged_job.pk).status_code == 400


def test_job_without_logs(alice_client, make_job, table_token):
    job = make_job(status="RUN")
    body = get_logs(alice_client, table_token([job]), job.pk).json()
    assert body == {"success": True, "name": job.name, "logs": [], "names": body["names"]}
    assert len(body["names"]) == 16  # the digest of no names (see test_follow.py)


# --- async built-in methods (Tethys awaits them: "Async Handlers/Jobs Table") ---------------
def _make_async(monkeypatch, klass, name):
    """Replace ``klass.name`` with an ``async def`` doing the same work (as a custom job
    type written for Tethys 4.3+ may); returns the list of calls it saw."""
    from asgiref.sync import sync_to_async

    original = getattr(klass, name)
    calls = []

    async def method(self, *args, **kwargs):
        calls.append(self.pk)
        return await sync_to_async(original)(self, *args, **kwargs)

    monkeypatch.setattr(klass, name, method)
    return calls


@pytest.mark.parametrize(
    ("start", "action", "method", "end"),
    [("PEN", "run", "execute", "SUB"), ("RUN", "terminate", "stop", "ABT"),
     ("COM", "resubmit", "resubmit", "RUN"), ("RUN", "pause", "pause", "PAS")],
)
def test_async_builtin_methods_are_awaited(alice_client, make_job, table_token, monkeypatch,
                                           start, action, method, end):
    job = make_job(status=None if start == "PEN" else start)
    calls = _make_async(monkeypatch, BasicJob, method)
    token = table_token([job], actions=["run", "pause", "resubmit", "terminate"])
    body = act(alice_client, token, job.pk, action).json()
    assert body["success"] is True
    assert calls == [job.pk]
    assert TethysJob.objects.get(pk=job.pk)._status == end


def test_async_delete_is_awaited(alice_client, make_job, table_token, monkeypatch):
    job = make_job(status="COM")
    calls = _make_async(monkeypatch, BasicJob, "delete")
    body = act(alice_client, table_token([job]), job.pk, "delete").json()
    assert body == {"success": True, "removed": True, "message": ""}
    assert calls == [job.pk] and not TethysJob.objects.filter(pk=job.pk).exists()


def test_async_get_logs_is_awaited(alice_client, logged_job, table_token, monkeypatch):
    _make_async(monkeypatch, BasicJob, "get_logs")
    body = get_logs(alice_client, table_token([logged_job]), logged_job.pk).json()
    assert body["success"] is True
    assert [entry["name"] for entry in body["logs"]] == ["stdout", "node_a", "big"]


def test_async_update_status_is_awaited_by_the_poll(alice_client, make_job, table_token, engine,
                                                    monkeypatch):
    from tests.testapp.fixtures import age

    job = age(make_job(status="SUB"))
    calls = _make_async(monkeypatch, BasicJob, "update_status")
    token = table_token([job])
    engine[job.pk] = "RUN"
    answer = poll(alice_client, token, {str(job.pk): "stale"}).json()
    assert calls == [job.pk]
    assert answer["rows"][str(job.pk)]["status"] == "Running"
    assert TethysJob.objects.get(pk=job.pk)._status == "RUN"


# --- custom actions whose callables only the building process holds (F16) ----------------
def _rendered_acts(table, job):
    """The signed enabled states the page's row for ``job`` carries (``data-acts``)."""
    import re

    html = table.get_context()["rows"]
    row = next(r for r in html if r["id"] == job.pk)
    assert re.fullmatch(r"[-\w:.]+", row["acts"])
    return row["acts"]


def test_lambda_enabled_state_travels_signed_with_the_row(alice_client, make_job, monkeypatch):
    from tethys_compute.gizmos import JobsTable

    even, odd = (make_job(f"job {i}", status="RUN", extended_properties={"parity": parity})
                 for i, parity in ((0, "even"), (1, "odd")))
    table = JobsTable(jobs=[even, odd], column_fields=["id"], actions=[
        {"label": "Custom Action", "callback_or_url": acts.archive,
         "enabled_callback": lambda self, job_status:
             self.extended_properties["parity"] == "even"}])
    name = table._menu[0].name
    token = table.table_config().dumps()
    carried = {str(job.pk): _rendered_acts(table, job) for job in (even, odd)}
    monkeypatch.setattr(custom, "_registry", {})  # a process that never built the table
    answer = alice_client.post(reverse("jobs_table_poll"), data=json.dumps(
        {"config": token, "rows": {k: "" for k in carried}, "acts": carried}),
        content_type="application/json").json()
    assert f'data-enabled="{name}"' in answer["rows"][str(even.pk)]["html"]
    assert 'data-enabled=""' in answer["rows"][str(odd.pk)]["html"]
    # Without the row's state, or with another row's, the action is not offered.
    swapped = {str(even.pk): carried[str(odd.pk)], str(odd.pk): carried[str(even.pk)]}
    for sent in ({}, swapped, {str(even.pk): carried[str(even.pk)][:-2] + "xx"}):
        answer = alice_client.post(reverse("jobs_table_poll"), data=json.dumps(
            {"config": token, "rows": {str(even.pk): ""}, "acts": sent}),
            content_type="application/json").json()
        assert 'data-enabled=""' in answer["rows"][str(even.pk)]["html"]
    # The module-level callback runs there, allowed by the carried state only.
    refused = act(alice_client, token, even.pk, name)
    assert refused.status_code == 409
    done = alice_client.post(reverse("jobs_table_action"), {
        "config": token, "job_id": even.pk, "action": name, "acts": carried[str(even.pk)]})
    assert done.json()["message"] == "Archived job 0."
    odd_done = alice_client.post(reverse("jobs_table_action"), {
        "config": token, "job_id": odd.pk, "action": name, "acts": carried[str(odd.pk)]})
    assert odd_done.status_code == 409


def test_carried_state_is_not_used_once_the_status_changed(alice_client, make_job, monkeypatch):
    from tethys_compute.gizmos import JobsTable

    job = make_job("j", status="RUN")
    table = JobsTable(jobs=[job], column_fields=["id"], actions=[
        CustomJobAction("Go", acts.archive, enabled_callback=lambda j, status: True)])
    name, token, carried = table._menu[0].name, table.table_config().dumps(), None
    carried = _rendered_acts(table, job)
    monkeypatch.setattr(custom, "_registry", {})
    job.update_status("COM")
    response = alice_client.post(reverse("jobs_table_action"), {
        "config": token, "job_id": job.pk, "action": name, "acts": carried})
    assert response.status_code == 409


def test_local_callback_in_another_process_is_refused_with_a_clear_error(alice_client, make_job,
                                                                        monkeypatch, caplog):
    import logging

    from tethys_compute.gizmos import JobsTable
    from tethys_compute.jobs_table import callables

    job = make_job("j", status="COM")
    table = JobsTable(jobs=[job], column_fields=["id"],
                      actions=[CustomJobAction("Tidy", lambda j: "tidied")])
    name, token = table._menu[0].name, table.table_config().dumps()
    assert act(alice_client, token, job.pk, name).json()["message"] == "tidied"
    monkeypatch.setattr(custom, "_registry", {})
    monkeypatch.setattr(callables, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="tethys_compute.jobs_table"):
        for _ in range(2):
            response = act(alice_client, token, job.pk, name)
            assert response.status_code == 500
            assert response.json()["error"] == (
                f"Unable to tidy job {job.pk}: this server process cannot run this action "
                "(see the server log).")
    assert sum("cannot run in this server process" in r.getMessage()
               for r in caplog.records) == 1
