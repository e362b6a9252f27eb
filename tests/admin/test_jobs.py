"""Job admin: one changelist of every job type with cached statuses, filters, search,
read-only job pages with status history and logs, and the actions."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from tethys_compute.models import BasicJob, CondorJob, DaskJob, TethysJob

from .conftest import grant

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")


def change_url(job):
    return reverse("admin:tethys_compute_tethysjob_change", args=[job.pk])


def logs_url(job):
    return reverse("admin:tethys_compute_tethysjob_logs", args=[job.pk])


def act(client, action, jobs, **extra):
    data = {"action": action, "_selected_action": [job.pk for job in jobs], **extra}
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


@pytest.fixture
def mixed_jobs(make_job, dask_scheduler, condor_scheduler):
    basic = make_job("basic run", description="a plain job")
    basic.execute()
    dask = make_job("dask run", job_type="DASK", scheduler=dask_scheduler)
    condor = make_job("condor run", job_type="CONDOR", scheduler=condor_scheduler,
                      attributes={"executable": "run.sh"})
    return basic, dask, condor


@pytest.fixture
def no_engine_calls(monkeypatch):
    """Fail the test if anything asks for a job's status from its engine."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the job admin asked an engine for a status")

    monkeypatch.setattr(TethysJob, "update_status", forbidden)
    monkeypatch.setattr(TethysJob, "bulk_update_status", classmethod(forbidden))


# --- changelist ------------------------------------------------------------------------------
def test_changelist_shows_every_job_as_its_own_type(admin_client, mixed_jobs, no_engine_calls):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    rows = {type(job) for job in response.context["cl"].result_list}
    assert rows == {BasicJob, DaskJob, CondorJob}
    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert actions == ["", "refresh_status", "terminate", "resubmit", "delete_selected"]
    body = response.content.decode()
    for text in ("BasicJob", "DaskJob", "CondorJob", "Submitted", "Pending", "alice",
                 "basic run", "test_app"):
        assert text in body


def test_status_column_shows_message_and_progress(admin_client, make_job, no_engine_calls):
    job = make_job("progressing")
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RUN", progress=40, status_message='Stage <2> of "3"')
    body = admin_client.get(CHANGELIST).content.decode()
    assert '<span title="Stage &lt;2&gt; of &quot;3&quot;">Running (40%)</span>' in body


def filtered(client, query):
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200, query
    return sorted(job.name for job in response.context["cl"].result_list)


def test_filters(admin_client, mixed_jobs, make_job, django_user_model, no_engine_calls):
    basic, dask, condor = mixed_jobs
    bob = django_user_model.objects.create_user("bob")
    other = make_job("bob's", owner=bob, label="other_app")
    TethysJob.objects.filter(pk=other.pk).update(_status="COM", completion_time=timezone.now())
    assert filtered(admin_client, "?status=SUB") == ["basic run"]
    assert filtered(admin_client, "?status=PEN") == ["condor run", "dask run"]
    assert filtered(admin_client, "?status=active") == ["basic run", "condor run", "dask run"]
    assert filtered(admin_client, "?status=finished") == ["bob's"]
    assert filtered(admin_client, "?type=DaskJob") == ["dask run"]
    assert filtered(admin_client, "?type=CondorJob") == ["condor run"]
    assert filtered(admin_client, "?type=BasicJob") == ["basic run", "bob's"]
    assert filtered(admin_client, "?app=other_app") == ["bob's"]
    assert filtered(admin_client, f"?user__id__exact={bob.pk}") == ["bob's"]
    today = timezone.localdate()
    specs = admin_client.get(CHANGELIST).context["cl"].filter_specs
    completion = next(s for s in specs if getattr(s, "field_path", "") == "completion_time")
    choices = {c["display"]: c["query_string"] for c in completion.choices(
        admin_client.get(CHANGELIST).context["cl"])}
    assert filtered(admin_client, choices["Today"]) == ["bob's"]
    assert filtered(admin_client, choices["No date"]) == ["basic run", "condor run", "dask run"]
    assert filtered(admin_client, f"?creation_time__year={today.year}"
                                  f"&creation_time__month={today.month}") == [
        "basic run", "bob's", "condor run", "dask run"]
    body = admin_client.get(CHANGELIST).content.decode()
    assert "Test App (test_app)" in body  # the app filter names registered apps
    by_owner = admin_client.get(CHANGELIST + "?o=-4.-1").context["cl"].result_list
    assert [job.owner_username for job in by_owner][0] == "bob"
    by_status = admin_client.get(CHANGELIST + "?o=5").context["cl"].result_list
    assert [job._status for job in by_status][0] == "COM"


def test_search_by_name_and_description(admin_client, mixed_jobs, no_engine_calls):
    assert filtered(admin_client, "?q=condor") == ["condor run"]
    assert filtered(admin_client, "?q=plain") == ["basic run"]


def test_changelist_query_count_does_not_grow_with_10000_jobs(
        admin_client, user, dask_scheduler, condor_scheduler, django_assert_max_num_queries,
        no_engine_calls):
    from django.db import connection

    TethysJob.objects.bulk_create(
        [TethysJob(name=f"bulk {i}", user=user, label="test_app",
                   _status=("COM", "RUN", "ERR", "PEN")[i % 4]) for i in range(10_000)],
        batch_size=1000,
    )
    ids = list(TethysJob.objects.order_by("pk").values_list("pk", flat=True))
    # Give two thirds of the rows their own type's row too (bulk_create cannot do MTI).
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO tethys_compute_basicjob (tethysjob_ptr_id) VALUES (%s)",
            [(pk,) for pk in ids[0::3]])
        cursor.executemany(
            "INSERT INTO tethys_compute_daskjob (tethysjob_ptr_id, key, scheduler_id, forget) "
            "VALUES (%s, %s, %s, %s)",
            [(pk, f"key-{pk}", dask_scheduler.pk, False) for pk in ids[1::3]])
    CondorJob.objects.create(name="condor among many", user=user, label="test_app",
                             scheduler=condor_scheduler)
    assert TethysJob.objects.count() == 10_001

    counts = {}
    for query in ("", "?p=1", "?p=50", "?p=100", "?status=active&p=20",
                  "?type=DaskJob&p=10", "?q=bulk&p=30"):
        with django_assert_max_num_queries(12) as captured:
            response = admin_client.get(CHANGELIST + query)
        assert response.status_code == 200
        assert not [q for q in captured.captured_queries
                    if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
        counts[query] = len(captured.captured_queries)
        # One count over the jobs (the paginator's), never a second "N total" one.
        assert len([q for q in captured.captured_queries
                    if "COUNT(*)" in q["sql"] and "tethys_compute_tethysjob" in q["sql"]]) == 1
        assert len(response.context["cl"].result_list) == 100
    first = response.context["cl"]
    assert first.result_count > 100
    # Same number of queries on the first, a middle and the last page, filtered or not.
    assert counts[""] == counts["?p=1"] == counts["?p=50"] == counts["?p=100"], counts
    assert counts["?status=active&p=20"] == counts["?type=DaskJob&p=10"], counts
    # A search runs one query more first (SQLite: how many names start so, at most
    # COUNT_LIMIT + 1 entries; PostgreSQL: the matching ids, at most COUNT_LIMIT +
    # SEARCH_WINDOW + 2), see tethys_compute.bounded.search_jobs.
    assert counts["?q=bulk&p=30"] == counts["?type=DaskJob&p=10"] + 1, counts
    page = admin_client.get(CHANGELIST).context["cl"].result_list
    assert {type(job) for job in page} == {CondorJob, BasicJob, DaskJob, TethysJob}


# --- job page -------------------------------------------------------------------------------
def test_job_page_is_read_only_with_type_fields(admin_client, mixed_jobs, no_engine_calls):
    _, dask, condor = mixed_jobs
    group = Group.objects.create(name="modellers")
    condor.groups.add(group)
    response = admin_client.get(change_url(condor))
    assert response.status_code == 200
    body = response.content.decode()
    assert "View Job" in body
    form = body.split('id="tethysjob_form"')[1].split("</form>")[0]
    assert 'name="_save"' not in form
    assert "<textarea" not in form and "<select" not in form
    assert [tag for tag in form.split("<input")[1:] if 'type="hidden"' not in tag] == []
    assert "CondorJob fields" in body
    for label in ("Cluster id", "Remote id", "Scheduler", "Attributes", "Num jobs",
                  "Remote input files", "modellers", "Status history", "View logs"):
        assert label in body, label
    assert "&quot;executable&quot;: &quot;run.sh&quot;" in body
    assert reverse("admin:tethys_compute_condorscheduler_change",
                   args=[condor.scheduler_id]) in body
    dask_body = admin_client.get(change_url(dask)).content.decode()
    assert "DaskJob fields" in dask_body and "Forget" in dask_body and "Key" in dask_body


def test_job_page_cannot_be_saved(admin_client, mixed_jobs):
    basic = mixed_jobs[0]
    response = admin_client.post(change_url(basic), {"name": "renamed", "_save": "Save"})
    assert response.status_code == 403
    basic.refresh_from_db()
    assert basic.name == "basic run"


def test_job_page_shows_status_history(admin_client, mixed_jobs):
    basic = mixed_jobs[0]
    basic.update_status("RUN", reason="node <b>7</b> started")
    body = admin_client.get(change_url(basic)).content.decode()
    history = body.split("<th>Reason</th>")[1].split("</table>")[0]
    assert "Pending" in history and "Submitted" in history and "Running" in history
    assert "node &lt;b&gt;7&lt;/b&gt; started" in history
    assert basic.status_history.count() == history.count("<tr>")


def test_jobs_cannot_be_added_from_the_admin(admin_client):
    assert admin_client.get(reverse("admin:tethys_compute_tethysjob_add")).status_code == 403


# --- logs -------------------------------------------------------------------------------------
def test_logs_page_resolves_callables_and_nested_logs_escaped(admin_client, mixed_jobs,
                                                              monkeypatch):
    basic = mixed_jobs[0]

    def broken():
        raise OSError("remote file is gone")

    monkeypatch.setattr(BasicJob, "_get_logs", lambda self: {
        "stdout": "line 1\n<script>alert('x')</script>",
        "stderr": lambda: "lazy text",
        "node A": {"out": lambda: b"bytes \xe2\x9c\x93", "err": broken},
    })
    response = admin_client.get(logs_url(basic))
    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "<script>alert" not in body
    assert "lazy text" in body and "bytes \u2713" in body
    assert "This log could not be read: remote file is gone" in body
    assert body.index("node A") < body.index("bytes")


def test_logs_page_reports_a_failing_engine(admin_client, mixed_jobs, monkeypatch):
    def down(self):
        raise ConnectionError("scheduler unreachable")

    monkeypatch.setattr(BasicJob, "_get_logs", down)
    response = admin_client.get(logs_url(mixed_jobs[0]))
    assert response.status_code == 200
    assert "The logs could not be read: scheduler unreachable" in response.content.decode()


def test_logs_page_without_logs(admin_client, mixed_jobs):
    assert "This job has no logs." in admin_client.get(logs_url(mixed_jobs[0])).content.decode()


def test_logs_need_login_and_permission(client, staff_user, mixed_jobs):
    url = logs_url(mixed_jobs[0])
    assert client.get(url).status_code == 302
    client.force_login(staff_user)
    assert client.get(url).status_code == 403
    client.force_login(grant(staff_user, "view_tethysjob"))
    assert client.get(url).status_code == 200


# --- permissions ---------------------------------------------------------------------------
def test_staff_without_permission_is_refused(staff_client, mixed_jobs):
    assert staff_client.get(CHANGELIST).status_code == 403
    assert staff_client.get(change_url(mixed_jobs[0])).status_code == 403


def test_view_only_staff_sees_jobs_but_no_actions(client, staff_user, mixed_jobs):
    client.force_login(grant(staff_user, "view_tethysjob"))
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None or not [
        c for c in response.context["action_form"].fields["action"].choices if c[0]]
    basic = mixed_jobs[0]
    act(client, "terminate", [basic])
    basic.refresh_from_db()
    assert basic._status == "SUB"
    act(client, "delete_selected", [basic], post="yes")
    assert TethysJob.objects.filter(pk=basic.pk).exists()


# --- actions ---------------------------------------------------------------------------------
def test_refresh_status_is_batched_and_skips_finished_jobs(admin_client, make_job, monkeypatch):
    jobs = [make_job(f"r{i}") for i in range(3)]
    for job in jobs:
        job.execute()
    finished = make_job("done")
    TethysJob.objects.filter(pk=finished.pk).update(_status="COM")
    batches = []

    def engine_answer(self):
        return "RUN"

    original = BasicJob.bulk_update_status.__func__

    def bulk_update_status(cls, group):
        batches.append(sorted(job.pk for job in group))
        return original(cls, group)

    monkeypatch.setattr(BasicJob, "_update_status", engine_answer)
    monkeypatch.setattr(BasicJob, "bulk_update_status", classmethod(bulk_update_status))
    # All due for a refresh (checked longer ago than update_status_interval).
    TethysJob.objects.update(_last_status_update=timezone.now() - timedelta(minutes=5))
    response = act(admin_client, "refresh_status", [*jobs, finished])
    assert batches == [sorted(job.pk for job in jobs)]
    assert messages_of(response) == [
        ("success", "Checked 3 active job(s): 3 changed status. 1 finished job(s) left as "
                    "they are.")]
    assert set(TethysJob.objects.filter(pk__in=[j.pk for j in jobs])
               .values_list("_status", flat=True)) == {"RUN"}
    assert TethysJob.objects.get(pk=finished.pk)._status == "COM"


def test_refresh_status_reports_a_failing_batch(admin_client, make_job, monkeypatch):
    job = make_job("r")
    job.execute()

    def down(cls, group):
        raise ConnectionError("schedd down")

    # An engine job due for a refresh: refresh_jobs hands only those to their batch.
    monkeypatch.setattr(BasicJob, "_update_status", lambda self: "RUN")
    monkeypatch.setattr(BasicJob, "bulk_update_status", classmethod(down))
    TethysJob.objects.filter(pk=job.pk).update(
        _last_status_update=timezone.now() - timedelta(minutes=5))
    response = act(admin_client, "refresh_status", [job])
    assert messages_of(response)[0][0] == "warning"
    assert "1 check(s) failed" in messages_of(response)[0][1]
    job.refresh_from_db()
    assert job._status == "SUB"


def test_terminate(admin_client, make_job, mixed_jobs):
    running = make_job("running")
    running.execute()
    done = make_job("done")
    TethysJob.objects.filter(pk=done.pk).update(_status="COM")
    dask = mixed_jobs[1]
    response = act(admin_client, "terminate", [running, done, dask])
    running.refresh_from_db()
    assert running._status == "ABT" and running.completion_time is not None
    entry = LogEntry.objects.get(object_id=str(running.pk))
    assert entry.get_change_message() == "Terminated from the admin."
    assert messages_of(response) == [
        ("success", "2 job(s) terminated."),  # DaskJob.stop() cancels its task (issue 3)
        ("warning", 'Skipped: "done" (already finished).'),
    ]


def test_terminate_reports_failures_per_job(admin_client, make_job, monkeypatch):
    a, b = make_job("a"), make_job("b")
    a.execute()
    b.execute()

    def stop(self):
        if self.name == "a":
            raise RuntimeError("condor_rm: no such job")
        self.update_status("ABT")

    monkeypatch.setattr(BasicJob, "stop", stop)
    response = act(admin_client, "terminate", [a, b])
    assert messages_of(response) == [
        ("success", "1 job(s) terminated."),
        ("error", 'Failed: "a": condor_rm: no such job.'),
    ]


def test_resubmit(admin_client, make_job):
    done = make_job("done")
    done.execute()
    done.update_status("ERR")
    active = make_job("active")
    active.execute()
    response = act(admin_client, "resubmit", [done, active])
    done.refresh_from_db()
    assert done._status == "RUN" and done.completion_time is None
    assert messages_of(response) == [
        ("success", "1 job(s) resubmitted."),
        ("warning", 'Skipped: "active" (still active; terminate first).'),
    ]


def test_delete_shows_a_confirmation_then_stops_and_cleans_each_job(
        admin_client, make_job, monkeypatch, django_capture_on_commit_callbacks):
    stopped = []
    monkeypatch.setattr(BasicJob, "_stop_remote_work", lambda self: stopped.append(self.pk))
    jobs = [make_job(f"d{i}") for i in range(3)]
    keep = make_job("keep")
    for job in jobs:
        Path(job.workspace, "output.txt").write_text("results")
    response = act(admin_client, "delete_selected", jobs[:2])
    assert response.status_code == 200
    body = response.content.decode()
    assert "Are you sure you want to delete the selected" in body
    assert "stops its remote work" in body
    assert "d0" in body and "d1" in body and "keep" not in body
    assert TethysJob.objects.count() == 4
    assert stopped == []
    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "delete_selected", jobs[:2], post="yes")
    assert messages_of(response) == [("success", "Successfully deleted 2 Jobs.")]
    assert sorted(stopped) == sorted(job.pk for job in jobs[:2])
    assert not Path(jobs[0].workspace).exists() and not Path(jobs[1].workspace).exists()
    assert Path(jobs[2].workspace).exists() and Path(keep.workspace).exists()
    assert set(TethysJob.objects.values_list("name", flat=True)) == {"d2", "keep"}


def test_single_job_delete_page_stops_remote_work(admin_client, make_job, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    stopped = []
    monkeypatch.setattr(BasicJob, "_stop_remote_work", lambda self: stopped.append(self.pk))
    job = make_job("solo")
    url = reverse("admin:tethys_compute_tethysjob_delete", args=[job.pk])
    assert "stops its remote work" in admin_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert stopped == [job.pk]
    assert not Path(job.workspace).exists()
    assert not TethysJob.objects.exists()


def test_workflow_page_lists_its_nodes(admin_client, make_job, condor_scheduler):
    from tethys_compute.models import CondorWorkflowJobNode

    workflow = make_job("dag", job_type="CONDORWORKFLOW", scheduler=condor_scheduler)
    prep = CondorWorkflowJobNode.objects.create(name="prep", workflow=workflow,
                                                cached_node_status="Completed")
    run = CondorWorkflowJobNode.objects.create(name="run <1>", workflow=workflow)
    run.add_parent(prep)
    body = admin_client.get(change_url(workflow)).content.decode()
    nodes = body.split("<th>Parents</th>")[1].split("</table>")[0]
    assert "<td>prep</td><td>Completed</td><td>-</td>" in nodes
    assert "<td>run &lt;1&gt;</td><td>-</td><td>prep</td>" in nodes


def test_async_log_callables_are_awaited():
    from tethys_compute.admin.logs import resolve_logs

    async def read():
        return "from a coroutine"

    (section,) = resolve_logs({"out": read})
    assert section.text == "from a coroutine"


def test_delete_of_a_job_whose_remote_work_cannot_be_stopped_is_refused(
        admin_client, make_job, monkeypatch):
    from tethys_compute.exceptions import EngineUnavailable

    def cannot(self):
        raise EngineUnavailable("condor_rm failed: ERROR: Can't find address of local schedd")

    monkeypatch.setattr(BasicJob, "_stop_remote_work", cannot)
    jobs = [make_job("r0"), make_job("r1")]
    response = act(admin_client, "delete_selected", jobs, post="yes")
    ((level, text),) = messages_of(response)
    assert level == "error" and "could not be stopped" in text and "Can't find" in text
    assert TethysJob.objects.count() == 2
    url = reverse("admin:tethys_compute_tethysjob_delete", args=[jobs[0].pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert any("could not be stopped" in str(m) for m in response.context["messages"])
    assert TethysJob.objects.count() == 2
    assert Path(jobs[0].workspace).exists()
