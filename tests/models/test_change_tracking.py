"""Change tracking of loaded jobs (models/change_tracking.py): loading a job costs nothing
per field, and ``save()`` still writes exactly the fields changed since the load, in place
changes of JSON values included (DESIGN section 3)."""

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tethys_compute.models import BasicJob, CondorJob, TethysJob

pytestmark = pytest.mark.django_db


def make(user, cls=BasicJob, **kwargs):
    job = cls(name=kwargs.pop("name", "job"), user=user, label="test_app", **kwargs)
    job.save()
    return job


def writes(queries):
    return [q["sql"] for q in queries
            if q["sql"].split()[0].upper() in ("UPDATE", "INSERT", "DELETE")]


def test_loading_jobs_copies_no_values(user, monkeypatch):
    for i in range(20):
        make(user, name=f"j{i}", extended_properties={"a": [i], "b": {"c": i}})
    calls = []
    real = copy.deepcopy

    def counting(value, *args, **kwargs):
        calls.append(value)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", counting)
    # In id order: without ORDER BY, PostgreSQL returns rows in the order of whatever
    # plan it picks (seen: an index's order after another test's ANALYZE).
    jobs = list(TethysJob.objects.filter(user=user).order_by("id").select_subclasses())
    assert len(jobs) == 20
    assert [job.name for job in jobs] == [f"j{i}" for i in range(20)]
    assert calls == [], "a loaded job's values are copied only when they are read"


def test_loading_and_saving_an_unchanged_job_writes_nothing(user):
    make(user, extended_properties={"a": {"b": 1}})
    (job,) = TethysJob.objects.filter(user=user).select_subclasses()
    assert job.extended_properties == {"a": {"b": 1}}  # read, not changed
    with CaptureQueriesContext(connection) as ctx:
        job.save()
    assert writes(ctx.captured_queries) == []


def test_in_place_change_through_a_reference_kept_across_saves(user):
    job = make(user, extended_properties={"a": 1})
    job = TethysJob.objects.get_subclass(pk=job.pk)
    props = job.extended_properties
    props["b"] = 2
    job.save()
    props["c"] = [3]
    job.save()
    props["c"].append(4)
    job.save()
    stored = TethysJob.objects.get(pk=job.pk).extended_properties
    assert stored == {"a": 1, "b": 2, "c": [3, 4]}


def test_in_place_change_keeps_keys_written_meanwhile(user):
    job = make(user, extended_properties={"a": {"n": 1}})
    mine = TethysJob.objects.get_subclass(pk=job.pk)
    theirs = TethysJob.objects.get_subclass(pk=job.pk)
    mine.extended_properties["a"]["n"] = 2
    theirs.extended_properties["other"] = True
    theirs.save()
    mine.save()
    stored = TethysJob.objects.get(pk=job.pk).extended_properties
    assert stored == {"a": {"n": 2}, "other": True}


def test_only_the_changed_field_is_written_after_a_partial_load(user):
    job = make(user, description="d")
    partial = BasicJob.objects.only("id", "name").get(pk=job.pk)
    partial.name = "renamed"
    with CaptureQueriesContext(connection) as ctx:
        partial.save()
    (sql,) = writes(ctx.captured_queries)
    assert '"name"' in sql and '"description"' not in sql and '"_status"' not in sql
    # A deferred JSON field read later and changed in place is written too.
    partial.extended_properties["late"] = 1
    partial.save()
    row = TethysJob.objects.get(pk=job.pk)
    assert row.name == "renamed" and row.description == "d"
    assert row.extended_properties == {"late": 1}


def test_a_json_field_added_by_a_subclass_is_tracked(user, settings):
    job = make(user, CondorJob, _attributes={"executable": "run.sh"})
    job = TethysJob.objects.get_subclass(pk=job.pk)
    assert isinstance(job, CondorJob)
    job._attributes["arguments"] = "1 2"
    job.save()
    assert CondorJob.objects.get(pk=job.pk)._attributes["arguments"] == "1 2"
    with CaptureQueriesContext(connection) as ctx:
        CondorJob.objects.get(pk=job.pk).save()
    assert writes(ctx.captured_queries) == []


def test_a_stale_copy_never_overwrites_a_newer_status(user):
    job = make(user)
    stale = TethysJob.objects.get_subclass(pk=job.pk)
    job.update_status("Running")
    stale.description = "later"
    stale.save()
    row = TethysJob.objects.get(pk=job.pk)
    assert row._status == "RUN" and row.description == "later"


def test_a_new_jobs_insert_names_only_the_columns_with_a_value(user):
    job = BasicJob(name="lean", user=user, label="test_app", description="d")
    with CaptureQueriesContext(connection) as ctx:
        job.save()
    inserts = [sql for sql in writes(ctx.captured_queries) if sql.startswith("INSERT")]
    base = next(sql for sql in inserts if "tethys_compute_tethysjob\"" in sql.split("(")[0])
    columns = base.split("(", 1)[1].split(")", 1)[0].split(", ")
    assert '"start_time"' not in columns and '"lease_owner"' not in columns
    assert '"progress"' not in columns and '"status_message"' not in columns
    assert {'"name"', '"description"', '"user_id"', '"label"', '"creation_time"',
            '"_status"', '"attempt"', '"extended_properties"'} <= set(columns)
    assert len(columns) <= 11, columns
    stored = TethysJob.objects.get(pk=job.pk)
    assert stored.start_time is None and stored.progress is None and stored.attempt == 0
    assert stored._status == "PEN" and stored.extended_properties == {}
    # A value set before the first save is written.
    other = BasicJob(name="x", user=user, label="test_app", status_message="hello",
                     progress=5)
    other.save()
    stored = TethysJob.objects.get(pk=other.pk)
    assert (stored.status_message, stored.progress) == ("hello", 5)
