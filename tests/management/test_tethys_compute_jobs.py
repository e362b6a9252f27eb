"""manage.py tethys_compute_jobs: list, show, terminate, resubmit, prune."""

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db
CMD = "tethys_compute_jobs"


@pytest.fixture
def jobs(make_job, dask_scheduler, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    a = make_job("alpha", description="first model run")
    a.execute()
    b = make_job("beta", job_type="DASK", scheduler=dask_scheduler)
    c = make_job("gamma", owner=bob, label="other_app")
    c.execute()
    c.update_status("COM")
    return a, b, c


@pytest.fixture
def no_engine_calls(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("listing asked an engine for a status")

    monkeypatch.setattr(TethysJob, "update_status", forbidden)


# --- list ------------------------------------------------------------------------------------
def test_list_table(run, jobs, no_engine_calls):
    a, b, c = jobs
    lines = run(CMD, "list").out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TYPE", "APP", "USER", "STATUS", "CREATED",
                                "COMPLETED"]
    assert [line.split()[:6] for line in lines[2:5]] == [
        [str(c.pk), "gamma", "BasicJob", "other_app", "bob", "Complete"],
        [str(b.pk), "beta", "DaskJob", "test_app", "alice", "Pending"],
        [str(a.pk), "alpha", "BasicJob", "test_app", "alice", "Submitted"],
    ]
    assert lines[-1] == "3 of 3 job(s) shown."


def names(run, *args):
    return [row["name"] for row in json.loads(run(CMD, "list", "--format", "json", *args).out)]


def test_list_filters(run, jobs, no_engine_calls):
    assert names(run, "--app", "test_app") == ["beta", "alpha"]
    assert names(run, "--user", "bob") == ["gamma"]
    assert names(run, "--status", "finished") == ["gamma"]
    assert names(run, "--status", "active") == ["beta", "alpha"]
    assert names(run, "--status", "pen", "--status", "Complete") == ["gamma", "beta"]
    assert names(run, "--type", "DaskJob") == ["beta"]
    assert names(run, "--search", "model run") == ["alpha"]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert names(run, "--created-after", tomorrow) == []
    assert names(run, "--created-before", tomorrow) == ["gamma", "beta", "alpha"]
    assert names(run, "--limit", "1") == ["gamma"]


def test_list_json_fields(run, jobs, no_engine_calls):
    row = json.loads(run(CMD, "list", "--format", "json", "--user", "bob").out)[0]
    assert row["status"] == "Complete" and row["status_code"] == "COM"
    assert row["type"] == "BasicJob" and row["app"] == "other_app"
    assert row["completed"] and row["created"].endswith("Z")


@pytest.mark.parametrize("args, message", [
    (("--status", "Finishd"), 'Unknown status "Finishd"'),
    (("--type", "MagicJob"), 'Unknown job type "MagicJob" \\(job types: BasicJob, '),
    (("--user", "nobody"), 'No user "nobody".'),
    (("--created-after", "yesterday"), '--created-after takes a date'),
    (("--limit", "-1"), "--limit takes 0"),
])
def test_list_bad_input(run, jobs, args, message):
    with pytest.raises(CommandError, match=message):
        run(CMD, "list", *args)


# --- show ---------------------------------------------------------------------------------------
def test_show_text(run, jobs):
    a = jobs[0]
    out = run(CMD, "show", str(a.pk)).out
    assert "name: alpha" in out and "type: BasicJob" in out and "status: Submitted" in out
    assert "description: first model run" in out
    assert "Status history:" in out and "Pending -> Submitted  submitted" in out


def test_show_json_with_type_fields_and_logs(run, jobs, monkeypatch):
    b = jobs[1]
    monkeypatch.setattr(type(b), "_get_logs",
                        lambda self: {"scheduler": lambda: "started", "workers": {"w1": "ok"}},
                        raising=False)
    data = json.loads(run(CMD, "show", str(b.pk), "--format", "json", "--logs").out)
    assert data["type"] == "DaskJob"
    assert data["fields"]["key"] is None and data["fields"]["forget"] is False
    assert data["fields"]["scheduler_id"] == b.scheduler_id
    assert data["logs"] == {"scheduler": "started", "workers": {"w1": "ok"}}
    assert data["status_history"] == []


def test_json_output_writes_values_as_djangos_json_encoder(run, jobs):
    # Dates as Django's JsonResponse writes them (ECMA-262: milliseconds, "Z" for UTC),
    # durations in seconds, and a stored result of any type (Decimal, set...) never fails.
    from decimal import Decimal

    from django.core.serializers.json import DjangoJSONEncoder

    a = jobs[0]
    row = next(r for r in json.loads(run(CMD, "list", "--format", "json").out) if r["id"] == a.pk)
    assert row["created"] == DjangoJSONEncoder().default(a.creation_time)
    assert row["created"].endswith("Z")
    from tethys_compute.management.commands._output import to_json
    assert json.loads(to_json({"d": Decimal("1.10"), "t": timedelta(minutes=1, seconds=1),
                               "s": {3}})) == {"d": "1.10", "t": 61.0, "s": "{3}"}


def test_show_logs_text_and_failure(run, jobs, monkeypatch):
    a = jobs[0]
    monkeypatch.setattr(BasicJob, "_get_logs", lambda self: {"out": "hello\nworld"})
    out = run(CMD, "show", str(a.pk), "--logs").out
    assert "== out ==\nhello\nworld" in out

    def down(self):
        raise ConnectionError("unreachable")

    monkeypatch.setattr(BasicJob, "_get_logs", down)
    data = json.loads(run(CMD, "show", str(a.pk), "--logs", "--format", "json").out)
    assert data["logs_error"] == "unreachable"


@pytest.mark.parametrize("job_id, message", [("abc", 'A job id is a number, not "abc".'),
                                             ("999999", "No job with id 999999.")])
def test_show_bad_id(run, job_id, message):
    with pytest.raises(CommandError, match=message):
        run(CMD, "show", job_id)


# --- terminate / resubmit ----------------------------------------------------------------------
def test_terminate(run, jobs):
    a, b, c = jobs
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 4 job\\(s\\) could not be terminated."):
        call_command(CMD, "terminate", str(a.pk), str(c.pk), str(b.pk), "12345678",
                     stdout=out, stderr=err)
    a.refresh_from_db()
    assert a._status == "ABT"
    assert f'Job {a.pk} "alpha" terminated: Aborted.' in out.getvalue()
    assert f'Job {c.pk} "gamma": already finished; nothing to do.' in out.getvalue()
    # DaskJob.stop() cancels its task (issue 3): never executed, it is simply Aborted.
    assert f'Job {b.pk} "beta" terminated: Aborted.' in out.getvalue()
    assert "No job with id 12345678." in err.getvalue()


def test_terminate_only_finished_jobs_is_fine(run, jobs):
    result = run(CMD, "terminate", str(jobs[2].pk))
    assert "already finished" in result.out


def test_resubmit(run, jobs):
    a, b, c = jobs
    result = run(CMD, "resubmit", str(c.pk))
    c.refresh_from_db()
    assert c._status == "RUN" and c.completion_time is None
    assert f'Job {c.pk} "gamma" resubmitted: Running.' in result.out
    with pytest.raises(CommandError, match="1 of 1 job\\(s\\) could not be resubmitted."):
        run(CMD, "resubmit", str(a.pk))


# --- prune -----------------------------------------------------------------------------------
@pytest.fixture
def finished(make_job):
    now = timezone.now()
    old_ok = make_job("old complete")
    old_err = make_job("old error")
    recent = make_job("recent complete")
    active = make_job("old running")
    TethysJob.objects.filter(pk=old_ok.pk).update(_status="COM",
                                                  completion_time=now - timedelta(days=40))
    TethysJob.objects.filter(pk=old_err.pk).update(_status="ERR",
                                                   completion_time=now - timedelta(days=35))
    TethysJob.objects.filter(pk=recent.pk).update(_status="COM",
                                                  completion_time=now - timedelta(days=2))
    TethysJob.objects.filter(pk=active.pk).update(_status="RUN",
                                                  creation_time=now - timedelta(days=90))
    return old_ok, old_err, recent, active


def test_prune_is_a_dry_run_by_default(run, finished):
    result = run(CMD, "prune", "--older-than", "30")
    assert "Dry run: 2 finished job(s) would be deleted." in result.out
    assert "old complete" in result.out and "old error" in result.out
    assert "recent complete" not in result.out and "old running" not in result.out
    assert TethysJob.objects.count() == 4
    assert all(Path(job.workspace).exists() for job in finished)


def test_prune_deletes_finished_jobs_and_their_directories(
        run, finished, monkeypatch, django_capture_on_commit_callbacks):
    stopped = []
    monkeypatch.setattr(BasicJob, "_stop_remote_work", lambda self: stopped.append(self.name))
    old_ok, old_err, recent, active = finished
    with django_capture_on_commit_callbacks(execute=True):
        result = run(CMD, "prune", "--older-than", "30", "--status", "Complete", "--yes")
    assert "Deleted 1 finished job(s)" in result.out
    assert stopped == ["old complete"]
    assert not Path(old_ok.workspace).exists()
    assert set(TethysJob.objects.values_list("name", flat=True)) == {
        "old error", "recent complete", "old running"}
    with django_capture_on_commit_callbacks(execute=True):
        run(CMD, "prune", "--older-than", "0", "--execute")
    assert set(TethysJob.objects.values_list("name", flat=True)) == {"old running"}
    assert Path(active.workspace).exists()


@pytest.mark.parametrize("args, message", [
    (("--older-than", "-1"), "--older-than takes a number of days, 0 or more."),
    (("--older-than", "30", "--status", "RUN"), 'prune deletes finished jobs only; "RUN"'),
    (("--older-than", "30", "--status", "active"), 'Unknown status "active"'),
    (("--older-than", "ten"), "invalid float value"),
    ((), "the following arguments are required: --older-than"),
])
def test_prune_bad_input(run, finished, args, message):
    with pytest.raises(CommandError, match=message):
        run(CMD, "prune", *args, "--yes")
    assert TethysJob.objects.count() == 4


def test_show_lists_workflow_nodes(run, make_job, condor_scheduler):
    from tethys_compute.models import CondorWorkflowJobNode

    workflow = make_job("dag", job_type="CONDORWORKFLOW", scheduler=condor_scheduler)
    a = CondorWorkflowJobNode.objects.create(name="a", workflow=workflow,
                                             cached_node_status="Running")
    b = CondorWorkflowJobNode.objects.create(name="b", workflow=workflow)
    b.add_parent(a)
    data = json.loads(run(CMD, "show", str(workflow.pk), "--format", "json").out)
    assert data["type"] == "CondorWorkflow"
    assert data["nodes"] == [{"name": "a", "status": "Running", "parents": []},
                             {"name": "b", "status": None, "parents": ["a"]}]
    out = run(CMD, "show", str(workflow.pk)).out
    assert "Nodes:\n  a: Running (parents: -)\n  b: - (parents: a)" in out


def test_prune_keeps_the_jobs_whose_remote_work_cannot_be_stopped(
        run, finished, monkeypatch, django_capture_on_commit_callbacks):
    from tethys_compute.exceptions import EngineUnavailable

    def stop(self):
        if self.name == "old error":
            raise EngineUnavailable("condor_rm failed: ERROR: Can't find address of local schedd")

    monkeypatch.setattr(BasicJob, "_stop_remote_work", stop)
    old_ok, old_err, recent, active = finished
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(CommandError, match=r'1 job\(s\) kept: Job \d+ \("old error"\) was '
                                               r"not deleted: its remote work could not be stopped"):
            run(CMD, "prune", "--older-than", "30", "--yes")
    assert set(TethysJob.objects.values_list("name", flat=True)) == {
        "old error", "recent complete", "old running"}
    assert not Path(old_ok.workspace).exists() and Path(old_err.workspace).exists()


def test_show_gives_each_changes_run_and_failure(run, make_job):
    from tethys_compute import failure_kinds as fk

    job = make_job("flaky", max_attempts=2)
    job.execute()
    job.status = "Running"
    job.run_failed(fk.Failure(fk.LOST, "worker lost"))
    data = json.loads(run(CMD, "show", str(job.pk), "--format", "json").out)
    last = data["status_history"][-1]
    assert (last["to"], last["attempt"], last["failure_kind"]) == ("PEN", 1, "lost")
    out = run(CMD, "show", str(job.pk)).out
    assert "Running -> Pending  [run 1, lost] attempt 1 failed (lost): worker lost" in out
