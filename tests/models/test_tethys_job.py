"""The status rules of TethysJob (DESIGN section 3), exercised through BasicJob and the
test-only EngineJob, whose engine answers are set by the tests."""

import logging
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.models import ENGINE_CALLS, ENGINE_STATE, EngineJob, UnreachableEngine
from tethys_compute import signals
from tethys_compute.exceptions import JobStateError
from tethys_compute.models import BasicJob, JobStatusChange, TethysJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _engine():
    ENGINE_STATE.clear()
    ENGINE_CALLS.clear()
    yield
    ENGINE_STATE.clear()
    ENGINE_CALLS.clear()


def make(user, cls=BasicJob, **kwargs):
    job = cls(name=kwargs.pop("name", "job"), user=user, label="test_app", **kwargs)
    job.save()
    return job


def writes(queries):
    return [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("UPDATE", "INSERT", "DELETE")]


def age(job, seconds=60):
    """Make the job's cached status older than its update interval."""
    old = timezone.now() - timedelta(seconds=seconds)
    TethysJob.objects.filter(pk=job.pk).update(_last_status_update=old)
    job.refresh_from_db()


# --- basic facts ---------------------------------------------------------------------------

def test_new_job_is_pending_with_tethys_defaults(user):
    job = make(user)
    assert job._status == "PEN"
    assert job.cached_status == "Pending"
    assert job.type == "BasicJob"
    assert job.description == ""
    assert job.extended_properties == {}
    assert job.run_time == ""
    assert not job.is_terminal
    assert not job.post_processing_incomplete


def test_id_template_in_name_is_filled_on_first_save(user):
    job = make(user, name="run_{id} of {model}")
    assert job.name == f"run_{job.pk} of {{model}}"
    assert TethysJob.objects.get(pk=job.pk).name == job.name


def test_times_are_timezone_aware_and_set_by_the_app(user):
    job = make(user)
    job.execute()
    job.status = "Running"
    job.status = "Complete"
    job.refresh_from_db()
    for value in (job.creation_time, job.execute_time, job.start_time, job.completion_time):
        assert value is not None and timezone.is_aware(value)
    assert job.execute_time <= job.start_time <= job.completion_time
    assert isinstance(job.run_time, timedelta)


# --- terminal statuses ---------------------------------------------------------------------

@pytest.mark.parametrize("terminal", ["Complete", "Error", "Aborted", "Various-Complete", "Results-Ready"])
def test_terminal_status_never_moves_back(user, terminal):
    job = make(user)
    job.execute()
    job.status = terminal
    stored = TethysJob.objects.get(pk=job.pk)._status
    for later in ("Running", "PEN", "Submitted", "Paused", "Various"):
        job.status = later
        assert TethysJob.objects.get(pk=job.pk)._status == stored
    assert job._status == stored


def test_late_report_from_a_stale_copy_changes_nothing(user):
    job = make(user)
    job.execute()
    stale = TethysJob.objects.get_subclass(pk=job.pk)
    job.status = "Complete"
    stale.status = "Running"  # a late, out-of-order report
    fresh = TethysJob.objects.get(pk=job.pk)
    assert fresh._status == "COM"
    assert stale._status == "COM", "the stale copy learns the newer status"
    assert list(fresh.status_history.values_list("new_status", flat=True)) == ["SUB", "COM"]


def test_resubmit_is_the_way_back(user):
    job = make(user)
    job.execute()
    job.status = "Complete"
    job.set_progress(100, "done")
    job.resubmit()
    job.refresh_from_db()
    assert job._status == "RUN"  # BasicJob resubmits into Running, as Tethys
    assert job.completion_time is None
    assert job.progress is None and job.progress_message is None
    assert job.start_time is not None
    history = list(job.status_history.values_list("old_status", "new_status", "reason"))
    assert history[-2:] == [("COM", "PEN", "resubmit"), ("PEN", "RUN", "resubmitted")]


# --- writes only when something changed -----------------------------------------------------

def test_reading_status_of_an_unchanged_job_writes_nothing(user, django_assert_num_queries):
    job = make(user)
    job.execute()
    job = TethysJob.objects.get_subclass(pk=job.pk)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert job.status == "Submitted"


def test_status_read_queries_the_engine_only_when_stale(user):
    job = make(user, EngineJob)
    job.execute()
    ENGINE_STATE[job.pk] = None  # engine says: no change
    assert job.status == "Submitted"
    assert ENGINE_CALLS == [], "fresh status: no engine query"
    age(job)
    with CaptureQueriesContext(connection) as ctx:
        assert job.status == "Submitted"
    assert ENGINE_CALLS == [job.pk]
    # an unchanged answer only stamps the check time (one column), no status write
    assert len(writes(ctx.captured_queries)) == 1
    assert "_last_status_update" in writes(ctx.captured_queries)[0]
    assert job.status_history.count() == 1
    assert job.status == "Submitted"
    assert ENGINE_CALLS == [job.pk], "just checked: rate-limited"


def test_engine_change_is_applied_with_history_and_start_time(user):
    job = make(user, EngineJob)
    job.execute()
    age(job)
    ENGINE_STATE[job.pk] = "Running"
    assert job.status == "Running"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RUN" and row.start_time is not None
    change = row.status_history.last()
    assert (change.old_status, change.new_status, change.reason) == ("SUB", "RUN", "engine status")


def test_cached_status_never_contacts_the_engine(user):
    job = make(user, EngineJob)
    job.execute()
    age(job, 3600)
    ENGINE_STATE[job.pk] = "Complete"
    for _ in range(3):
        assert job.cached_status == "Submitted"
    assert ENGINE_CALLS == []


def test_update_status_interval_is_settable(user):
    job = make(user, EngineJob)
    job.execute()
    ENGINE_STATE[job.pk] = None
    job.update_status_interval = timedelta(0)
    assert job.update_status_interval == timedelta(0)
    job.update_status()
    job.update_status()
    assert len(ENGINE_CALLS) == 2


def test_interval_follows_the_setting(user, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 120}
    job = make(user)
    assert job.update_status_interval == timedelta(seconds=120)


# --- stale copies never overwrite newer rows ----------------------------------------------

def test_saving_a_stale_copy_after_completion_does_not_undo_it(user):
    job = make(user)
    job.execute()
    stale = TethysJob.objects.get_subclass(pk=job.pk)
    fresh = TethysJob.objects.get_subclass(pk=job.pk)
    fresh.status = "Complete"
    stale.description = "edited later"
    stale.save()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM"
    assert row.completion_time is not None
    assert row.description == "edited later"


def test_save_writes_only_changed_fields(user):
    job = make(user)
    job = TethysJob.objects.get_subclass(pk=job.pk)
    with CaptureQueriesContext(connection) as ctx:
        job.save()
    assert ctx.captured_queries == [], "nothing changed, nothing written"
    job.description = "new"
    with CaptureQueriesContext(connection) as ctx:
        job.save()
    (sql,) = writes(ctx.captured_queries)
    assert '"description"' in sql and '"_status"' not in sql and '"name"' not in sql


def test_mutating_extended_properties_in_place_is_saved(user):
    job = make(user, extended_properties={"a": {"b": 1}})
    job = TethysJob.objects.get_subclass(pk=job.pk)
    job.extended_properties["a"]["b"] = 2
    job.save()
    assert TethysJob.objects.get(pk=job.pk).extended_properties == {"a": {"b": 2}}


def test_assigning_status_and_saving_goes_through_the_rules(user):
    job = make(user)
    job.execute()
    job.status = "Complete"
    stale = TethysJob.objects.get_subclass(pk=job.pk)
    stale._status = "RUN"
    stale.save()
    assert TethysJob.objects.get(pk=job.pk)._status == "COM"
    job2 = make(user)
    job2._status = "ABT"
    job2.save()
    row = TethysJob.objects.get(pk=job2.pk)
    assert row._status == "ABT" and row.completion_time is not None
    assert row.status_history.get().reason == "status set"


# --- engine failures are never terminal ------------------------------------------------------

@pytest.mark.parametrize("failure", [UnreachableEngine("ssh: timed out"), RuntimeError("boom")])
def test_engine_failure_while_polling_is_not_terminal(user, failure):
    job = make(user, EngineJob)
    job.execute()
    age(job)
    ENGINE_STATE[job.pk] = failure
    assert job.status == "Submitted"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "SUB"
    assert str(failure) in row.status_message
    # the next refresh retries and recovers
    age(job)
    ENGINE_STATE[job.pk] = "Running"
    assert job.status == "Running"


# --- execute -------------------------------------------------------------------------------

def test_execute_failure_ends_in_error_with_the_reason_logged(user, caplog):
    job = make(user, EngineJob)
    with caplog.at_level(logging.ERROR, logger="tethys_compute.jobs"):
        job.execute(fail="input deck not found")
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ERR"
    assert "input deck not found" in row.status_message
    assert row.completion_time is not None
    assert any("execute failed" in r.getMessage() for r in caplog.records)


def test_execute_keeps_the_status_the_engine_reports(user):
    job = make(user, EngineJob)
    job.execute(status="RUN")
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RUN" and row.execute_time and row.start_time
    assert row.extended_properties == {"submitted": True}


def test_execute_saves_a_new_job_first(user):
    job = BasicJob(name="unsaved", user=user, label="test_app")
    job.execute()
    assert job.pk is not None and TethysJob.objects.get(pk=job.pk)._status == "SUB"


def test_execute_twice_is_refused(user):
    job = make(user)
    job.execute()
    with pytest.raises(JobStateError, match="resubmit"):
        job.execute()


# --- result processing -----------------------------------------------------------------------

def test_results_processed_once_per_completion(user, tmp_path):
    job = make(user, workspace=str(tmp_path))
    job.process_results_function = "tests.testapp.results.record_processing"
    job.save()
    job.execute()
    job.status = "Results-Ready"
    job.status = "Complete"  # duplicate report
    other = TethysJob.objects.get_subclass(pk=job.pk)
    other.status = "Complete"
    assert other.process_results() is False
    assert (tmp_path / "processed.log").read_text().count("\n") == 1
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.completion_time is not None


def test_results_function_failure_is_error_not_complete_and_can_be_retried(user, tmp_path):
    job = make(user, workspace=str(tmp_path))
    job.process_results_function = "tests.testapp.results.broken"
    job.save()
    job.execute()
    job.status = "Complete"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ERR"
    assert "missing a header" in row.status_message
    # fix the function and retry
    row.process_results_function = "tests.testapp.results.summarize"
    row.save()
    assert row.retry_results() is True
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM"
    assert row.extended_properties["summary"] == "ok"
    reasons = list(row.status_history.values_list("new_status", flat=True))
    assert reasons == ["SUB", "COM", "ERR", "RES", "COM"]


def test_retry_results_when_nothing_failed_is_refused(user):
    job = make(user)
    job.execute()
    job.status = "Complete"
    with pytest.raises(JobStateError):
        job.retry_results()


def test_transient_failure_in_processing_is_retried_not_errored(user):
    job = make(user, EngineJob)
    job.execute()
    ENGINE_STATE[("results", job.pk)] = UnreachableEngine("scp: connection reset")
    job.status = "Results-Ready"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RES" and row.post_processing_incomplete
    assert "connection reset" in row.status_message
    del ENGINE_STATE[("results", job.pk)]
    age(row)
    assert row.status == "Complete"
    assert TethysJob.objects.get(pk=job.pk).completion_time is not None


def test_process_results_hook_may_report_error(user):
    job = make(user, EngineJob)
    job.execute()
    ENGINE_STATE[("results", job.pk)] = "ERR"
    job.status = "Complete"
    assert TethysJob.objects.get(pk=job.pk)._status == "ERR"


def test_various_complete_stays_various_complete(user):
    job = make(user)
    job.execute()
    job.status = "Various-Complete"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "VCP" and row.completion_time is not None


def test_expired_processing_claim_is_retried(user, settings):
    job = make(user)
    job.execute()
    # A process claimed the results and died: the claim is old.
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RES", _results_state="claimed",
        _results_claimed_at=timezone.now() - timedelta(hours=1),
    )
    job.refresh_from_db()
    assert job.post_processing_incomplete
    job.update_status()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.completion_time is not None


def test_live_processing_claim_is_respected(user):
    job = make(user)
    job.execute()
    TethysJob.objects.filter(pk=job.pk).update(
        _status="RES", _results_state="claimed", _results_claimed_at=timezone.now()
    )
    job.refresh_from_db()
    assert job.process_results() is False
    assert TethysJob.objects.get(pk=job.pk)._status == "RES"


# --- history and signals --------------------------------------------------------------------

def test_history_and_signals(user):
    seen = []

    def on(signal_name):
        def receiver(sender, job, **kwargs):
            seen.append((signal_name, sender.__name__, job.pk, kwargs.get("old"), kwargs.get("new"),
                         kwargs.get("status")))
        return receiver

    receivers = {name: on(name) for name in ("changed", "submitted", "finished", "deleted")}
    signals.job_status_changed.connect(receivers["changed"])
    signals.job_submitted.connect(receivers["submitted"])
    signals.job_finished.connect(receivers["finished"])
    signals.job_deleted.connect(receivers["deleted"])
    try:
        job = make(user)
        pk = job.pk
        job.execute()
        job.status = "Running"
        job.status = "Complete"
        from django.test import TestCase  # noqa: F401

        with pytest.MonkeyPatch.context():
            job.delete()
    finally:
        for name, signal in (("changed", signals.job_status_changed), ("submitted", signals.job_submitted),
                             ("finished", signals.job_finished), ("deleted", signals.job_deleted)):
            signal.disconnect(receivers[name])
    assert ("changed", "BasicJob", pk, "PEN", "SUB", None) in seen
    assert ("submitted", "BasicJob", pk, None, None, None) in seen
    assert ("changed", "BasicJob", pk, "RUN", "COM", None) in seen
    assert [s for s in seen if s[0] == "finished"] == [("finished", "BasicJob", pk, None, None, "COM")]
    history = JobStatusChange.objects.filter(job_id=pk)
    assert not history.exists(), "history goes with the job"


def test_history_records_old_new_time_and_reason(user):
    job = make(user)
    job.execute()
    job.update_status("Running", reason="node 7 started")
    change = job.status_history.last()
    assert change.old_status == "SUB" and change.new_status == "RUN"
    assert change.reason == "node 7 started"
    assert timezone.is_aware(change.time)
    assert str(change) == "Submitted -> Running"


# --- custom (OTH) statuses -------------------------------------------------------------------

def test_other_status_text_is_kept_and_cleared(user):
    job = make(user)
    job.execute()
    job.status = "Checking inputs"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "OTH"
    # Its own column, out of reach of plain saves of extended_properties.
    assert row._other_status == "Checking inputs"
    assert TethysJob.OTHER_STATUS_KEY not in row.extended_properties
    assert row.cached_status == "Checking inputs"
    assert not row.is_terminal
    row.status = "Running"
    row = TethysJob.objects.get(pk=job.pk)
    assert row._other_status is None
    assert row.cached_status == "Running"


def test_a_row_made_the_tethys_way_keeps_its_custom_status(user):
    """Text in extended_properties["__other_status__"] (Tethys's place) is read, and a job
    created with it stores it in the column."""
    created = TethysJob.objects.create(name="t", user=user, label="test_app", _status="OTH",
                                       extended_properties={"__other_status__": "Meshing", "a": 1})
    row = TethysJob.objects.get(pk=created.pk)
    assert (row._other_status, row.extended_properties) == ("Meshing", {"a": 1})
    TethysJob.objects.filter(pk=created.pk).update(
        _other_status=None, extended_properties={"__other_status__": "Written by Tethys"})
    row = TethysJob.objects.get(pk=created.pk)
    assert row.cached_status == "Written by Tethys"
    assert TethysJob.objects.active().filter(pk=created.pk).exists()


def test_save_merges_extended_properties_changes_into_the_stored_dict(user):
    job = make(user, extended_properties={"a": 1, "b": 2, "gone": 0})
    stale = TethysJob.objects.get(pk=job.pk)
    job.extended_properties["c"] = 3
    job.save()
    stale.extended_properties["b"] = 20
    del stale.extended_properties["gone"]
    stale.save()
    assert stale.extended_properties == {"a": 1, "b": 20, "c": 3}
    assert TethysJob.objects.get(pk=job.pk).extended_properties == {"a": 1, "b": 20, "c": 3}
    stale.extended_properties = None
    stale.save(update_fields=["extended_properties"])
    assert TethysJob.objects.get(pk=job.pk).extended_properties is None


def test_other_status_without_its_text_does_not_crash(user):
    job = make(user)
    TethysJob.objects.filter(pk=job.pk).update(_status="OTH", extended_properties={})
    job = TethysJob.objects.get_subclass(pk=job.pk)
    assert job.cached_status == "Other"
    assert job.status == "Other"
    job.status = "Running"
    assert TethysJob.objects.get(pk=job.pk)._status == "RUN"


def test_custom_terminal_status_is_terminal_for_its_class_only(user):
    class Validated(BasicJob):
        class Meta:
            proxy = True
            app_label = "testapp"

    Validated.add_custom_terminal_status("Validation Failed")
    job = make(user, Validated)
    job.status = "Validation Failed"
    assert job.is_terminal
    job.status = "Running"
    assert Validated.objects.get(pk=job.pk).cached_status == "Validation Failed"
    plain = make(user)
    plain.status = "Validation Failed"
    assert not plain.is_terminal


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_status_is_refused(user, bad):
    job = make(user)
    with pytest.raises(ValueError, match="non-empty"):
        job.status = bad
    assert TethysJob.objects.get(pk=job.pk)._status == "PEN"


# --- tokens -----------------------------------------------------------------------------------

def test_status_report_token_round_trip(user):
    job = make(user)
    token = job.status_report_token
    assert TethysJob.id_from_status_report_token(token) == str(job.pk)
    other = make(user)
    assert TethysJob.id_from_status_report_token(other.status_report_token) != str(job.pk)


@pytest.mark.parametrize("bad", [None, 42, "", "not-a-token", "1:abc:def"])
def test_bad_tokens_give_none(bad):
    assert TethysJob.id_from_status_report_token(bad) is None


def test_token_expires(user, settings):
    job = make(user)
    token = job.status_report_token
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "STATUS_REPORT_MAX_AGE": 1}
    import time

    time.sleep(2.1)
    assert TethysJob.id_from_status_report_token(token) is None


def test_token_signed_with_another_salt_is_refused(user):
    job = make(user)
    forged = signing.dumps(str(job.pk), salt="something.else")
    assert TethysJob.id_from_status_report_token(forged) is None


def test_unsaved_job_has_no_token(user):
    with pytest.raises(JobStateError):
        BasicJob(name="x", user=user).status_report_token


# --- results function path --------------------------------------------------------------------

def test_results_function_from_callable_and_path(user):
    from tests.testapp import results

    job = make(user)
    job.process_results_function = results.summarize
    assert job._process_results_function == "tests.testapp.results.summarize"
    assert job.process_results_function is results.summarize
    job.process_results_function = "tests.testapp.results.broken"
    assert job.process_results_function is results.broken
    job.process_results_function = None
    assert job.process_results_function is None


def test_lambda_and_nested_functions_are_refused_at_assignment(user):
    job = make(user)

    def nested(job):
        return None

    for function in (lambda j: j, nested):
        with pytest.raises(ValueError, match="module-level"):
            job.process_results_function = function
    assert job._process_results_function is None


@pytest.mark.parametrize("bad", [42, "not a path", "a..b"])
def test_non_callable_results_function_is_refused(user, bad):
    job = make(user)
    with pytest.raises(ValueError):
        job.process_results_function = bad


def test_unresolvable_path_gives_none(user):
    job = make(user, _process_results_function="tests.testapp.results.no_such_function")
    assert job.process_results_function is None
    job._process_results_function = "no_such_module.at_all"
    assert job.process_results_function is None


# --- progress ---------------------------------------------------------------------------------

def test_set_progress(user):
    job = make(user)
    job.set_progress(42.4, "meshing")
    row = TethysJob.objects.get(pk=job.pk)
    assert (row.progress, row.progress_message) == (42, "meshing")


@pytest.mark.parametrize("bad", [-1, 101, "lots", None])
def test_bad_progress_is_refused(user, bad):
    job = make(user)
    with pytest.raises(ValueError, match="0 to 100"):
        job.set_progress(bad)


# --- logs, hooks -------------------------------------------------------------------------------

def test_base_hooks(user):
    job = make(user, TethysJob)
    assert job.get_logs() == {}
    assert job.apply_node_statuses({"a": "Running"}) == {}
    for action in (job.stop, job.pause, job.resume):
        with pytest.raises(NotImplementedError):
            action()
    assert job < make(user)


def test_status_on_unsaved_job_saves_it_first_as_tethys(user):
    job = BasicJob(name="x", user=user)
    assert job.update_status("Running") is True
    assert BasicJob.objects.get(pk=job.pk)._status == "RUN"


def test_engine_warning_is_cleared_once_the_engine_answers(user):
    job = make(user, EngineJob)
    job.execute()
    age(job)
    ENGINE_STATE[job.pk] = UnreachableEngine("ssh: timed out")
    job.update_status()
    assert "will retry" in TethysJob.objects.get(pk=job.pk).status_message
    age(job)
    ENGINE_STATE[job.pk] = None  # answers, nothing changed
    job.update_status()
    assert TethysJob.objects.get(pk=job.pk).status_message is None
    age(job)
    ENGINE_STATE[job.pk] = UnreachableEngine("ssh: timed out")
    job.update_status()
    age(job)
    ENGINE_STATE[job.pk] = "Complete"
    assert job.status == "Complete"
    assert TethysJob.objects.get(pk=job.pk).status_message is None


def test_own_status_messages_are_not_cleared(user):
    job = make(user, EngineJob)
    job.execute()
    TethysJob.objects.filter(pk=job.pk).update(status_message="input deck v2")
    age(job)
    ENGINE_STATE[job.pk] = "Running"
    job.update_status()
    assert TethysJob.objects.get(pk=job.pk).status_message == "input deck v2"


def test_retry_warning_is_cleared_when_processing_succeeds(user):
    job = make(user, EngineJob)
    job.execute()
    ENGINE_STATE[("results", job.pk)] = UnreachableEngine("scp: reset")
    job.status = "Results-Ready"
    del ENGINE_STATE[("results", job.pk)]
    age(job)
    job.update_status()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "COM" and row.status_message is None


def test_a_status_change_ends_an_engine_warning(user):
    job = make(user, EngineJob)
    job.execute()
    age(job)
    ENGINE_STATE[job.pk] = UnreachableEngine("ssh: timed out")
    job.update_status()
    job.stop()  # BasicJob's stop: Aborted, set by the app
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "ABT" and row.status_message is None
