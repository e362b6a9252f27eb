"""Many finished jobs written at once (tethys_compute/models/results_batch.py): values
that differ per job, rows that moved on before the batch's UPDATE, the statements per
batch and the chunks under the database's limit on bound parameters."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tethys_compute import notifications
from tethys_compute.models import DaskJob, JobStatusChange, TethysJob
from tethys_compute.models import results_batch as rb
from tethys_compute.models.job_status import RESULTS_DONE

pytestmark = pytest.mark.django_db(transaction=True)


def running(user, count):
    jobs = [DaskJob.objects.create(name=f"b{i}", user=user, label="test_app", key=f"k-{i}",
                                   _status="RUN", attempt=1) for i in range(count)]
    return list(DaskJob.objects.filter(pk__in=[job.pk for job in jobs]).order_by("pk"))


def completion(job, result, **extra):
    now = timezone.now()
    job.result = result
    values = job._status_values("COM", now, extra={
        "_last_status_update": now, "completion_time": now, "_results_state": RESULTS_DONE,
        "_results_claimed_at": None, "_results_claim": None, **extra})
    return rb.Completion(job, values, ["result"])


def write(completions):
    with transaction.atomic():
        written, moved = rb.write(completions, "default")
    rb.written(written)
    rb.moved_on(moved, "default")
    return written, moved


def test_values_that_differ_per_job_each_reach_their_own_row(user):
    jobs = running(user, 4)
    completions = []
    for i, job in enumerate(jobs):
        job.record_usage({"wall_seconds": float(i), "peak_memory_mb": 100 + i},
                         with_next_status=True)
        extra = {"status_message": None} if i % 2 else {}
        completions.append(completion(job, {"n": i}, **extra))
    TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).update(status_message="old")
    with CaptureQueriesContext(connection) as captured:
        written, moved = write(completions)
    assert (len(written), moved) == (4, [])
    updates = [q["sql"] for q in captured.captured_queries
               if q["sql"].startswith('UPDATE "tethys_compute_tethysjob"')]
    assert len(updates) == 2  # two column sets (the message cleared or not), one each
    for i, job in enumerate(jobs):
        fresh = DaskJob.objects.get(pk=job.pk)
        assert (fresh._status, fresh.result, fresh._results_state) == ("COM", {"n": i}, "done")
        assert fresh.usage_attempts["1"]["wall_seconds"] == float(i)
        assert fresh.usage_attempts["1"]["peak_memory_mb"] == 100 + i
        assert fresh.status_message == (None if i % 2 else "old")
        assert list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id").values_list(
            "old_status", "new_status", "reason")) == [
            ("RUN", "RES", "engine status"), ("RES", "COM", "results processed")]
        assert set(JobStatusChange.objects.filter(job_id=job.pk).values_list(
            "time", "attempt")) == {(fresh._last_status_update, 1)}
        assert fresh.completion_time == fresh._last_status_update
        assert job._status == "COM" and not job._changed_fields()  # the instance as stored


def test_rows_that_moved_on_are_not_written_and_are_reloaded(user):
    jobs = running(user, 3)
    completions = [completion(job, i) for i, job in enumerate(jobs)]
    # Another process finished the second job, and resubmitted the third, meanwhile.
    TethysJob.objects.filter(pk=jobs[1].pk).update(_status="COM", _results_state="done",
                                                   completion_time=timezone.now())
    TethysJob.objects.filter(pk=jobs[2].pk).update(attempt=2)
    finished = []

    def on_finished(sender, job, status, **kwargs):
        finished.append(job.pk)

    from tethys_compute import signals

    signals.job_finished.connect(on_finished)
    try:
        written, moved = write(completions)
    finally:
        signals.job_finished.disconnect(on_finished)
    assert [c.job.pk for c in written] == [jobs[0].pk]
    assert [c.job.pk for c in moved] == [jobs[1].pk, jobs[2].pk]
    assert finished == [jobs[0].pk]
    assert DaskJob.objects.get(pk=jobs[0].pk).result == 0
    for job in jobs[1:]:
        assert DaskJob.objects.get(pk=job.pk).result is None  # not stored
        assert job.result is None  # put back on the instance
        assert not JobStatusChange.objects.filter(job_id=job.pk).exists()
    assert (jobs[1]._status, jobs[1]._results_state) == ("COM", "done")  # reloaded
    assert jobs[2].attempt == 2


@pytest.mark.parametrize("limit", [None, 40])
def test_statements_follow_the_parameter_limit_not_the_batch(user, monkeypatch, limit):
    if limit is not None:  # e.g. SQLite under Django 5.2 has 999
        monkeypatch.setattr(type(connection.features), "max_query_params", limit)

    def cost(count):
        jobs = running(user, count)
        completions = [completion(job, i) for i, job in enumerate(jobs)]
        # The owners' notification preferences are read once per batch (as the monitor).
        with notifications.batch_preferences({user.pk}), \
                CaptureQueriesContext(connection) as captured:
            written, _moved = write(completions)
        assert len(written) == count
        for i, job in enumerate(jobs):
            assert DaskJob.objects.get(pk=job.pk).result == i
            assert list(JobStatusChange.objects.filter(job_id=job.pk).order_by("id")
                        .values_list("new_status", flat=True)) == ["RES", "COM"]
        return len(captured.captured_queries)

    if limit is None:
        assert cost(3) == cost(30)
    else:
        assert cost(3) < cost(30)  # chunks of what one statement can bind


def test_supported_databases():
    assert rb.supported("default") is (connection.vendor in ("sqlite", "postgresql"))
