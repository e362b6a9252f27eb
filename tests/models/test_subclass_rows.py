"""Loading jobs as their own classes (models/subclass_rows.py, models/loading.py): one
object built per row, no ``Model.__init__`` per row, no converter call for a NULL column,
and the same objects (classes, values, annotations, change tracking) as model-utils'
``select_subclasses()`` iterable gives, in one query."""

import pytest
from django.db import connection, models
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.db.models.signals import post_init, pre_init
from django.test.utils import CaptureQueriesContext
from model_utils.managers import InheritanceIterable

from tests.testapp.models import FakeEngineJob
from tethys_compute.models import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    DaskJob,
    TethysJob,
    change_tracking,
    loading,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(user):
    """One job of every class, and a row of the base table alone."""
    made = []
    for cls in (BasicJob, CondorJob, CondorWorkflow, DaskJob, FakeEngineJob, TethysJob):
        job = cls(name=f"{cls.__name__}-job", user=user, label="test_app",
                  extended_properties={"cls": cls.__name__})
        job.save()
        made.append(job)
    return made


def field_values(job):
    return {f.attname: getattr(job, f.attname) for f in job._meta.concrete_fields}


def model_utils_rows(queryset):
    queryset = queryset.all()
    queryset._iterable_class = InheritanceIterable
    return list(queryset)


def test_every_row_comes_back_as_its_own_class_with_the_values_model_utils_gives(jobs):
    with CaptureQueriesContext(connection) as ctx:
        loaded = list(TethysJob.objects.filter(label="test_app").select_subclasses()
                      .order_by("id"))
    assert len(ctx.captured_queries) == 1
    expected = model_utils_rows(TethysJob.objects.filter(label="test_app")
                                .select_subclasses().order_by("id"))
    assert [type(job) for job in loaded] == [type(job) for job in jobs]
    assert [type(job) for job in loaded] == [type(job) for job in expected]
    for mine, theirs in zip(loaded, expected, strict=True):
        assert field_values(mine) == field_values(theirs)
        assert mine._state.adding is False and mine._state.db == "default"


def test_a_row_is_built_once_without_model_init(jobs, monkeypatch):
    built, inits = [], []
    real_from_db = change_tracking.ChangeTracking.from_db.__func__
    real_init = models.Model.__init__

    def counting_from_db(cls, *args, **kwargs):
        built.append(cls)
        return real_from_db(cls, *args, **kwargs)

    def counting_init(self, *args, **kwargs):
        inits.append(type(self))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(change_tracking.ChangeTracking, "from_db",
                        classmethod(counting_from_db))
    monkeypatch.setattr(models.Model, "__init__", counting_init)
    monkeypatch.setattr(loading, "PLAIN_INITS", loading.PLAIN_INITS | {counting_init})
    loaded = list(TethysJob.objects.filter(label="test_app").select_subclasses())
    assert len(loaded) == 6
    # model-utils built a TethysJob per row, then the subclass objects (two for Condor
    # rows: CondorBase and the leaf), each through Model.__init__.
    assert sorted(cls.__name__ for cls in built) == sorted(type(j).__name__ for j in jobs)
    assert inits == []


def test_null_columns_are_not_converted_per_row(jobs, monkeypatch):
    seen = []
    real = models.JSONField.from_db_value

    def recording(self, value, expression, connection):
        seen.append(value)
        return real(self, value, expression, connection)

    monkeypatch.setattr(models.JSONField, "from_db_value", recording)
    rows = TethysJob.objects.filter(label="test_app").select_subclasses()
    loaded = list(rows)
    assert [job.extended_properties["cls"] for job in loaded] == [
        type(job).__name__ for job in loaded]
    nulls_for_all = seen.count(None)
    seen.clear()
    assert len(rows.filter(pk=jobs[0].pk)) == 1
    # Each JSON column's converter is asked once per query whether it keeps NULL as
    # None, never once per row (model-utils: 9 JSON columns x 6 rows).
    assert seen.count(None) == nulls_for_all <= 9


def test_a_row_of_some_columns_is_built_without_model_init_as_django_builds_it(
        jobs, monkeypatch):
    """``only()`` / ``defer()``: the loaded fields are set, the others deferred (read
    from the database when asked), as Django's ``from_db`` leaves them, without running
    ``Model.__init__`` per row (the admin's changelist loads only its columns)."""
    pk_paths = ["basicjob__tethysjob_ptr", "condorbase__tethysjob_ptr",
                "condorbase__condorjob__condorbase_ptr",
                "condorbase__condorworkflow__condorbase_ptr", "daskjob__tethysjob_ptr",
                "fakeenginejob__tethysjob_ptr"]
    rows = (TethysJob.objects.filter(label="test_app").select_subclasses().order_by("id")
            .only("name", "_status", "extended_properties", *pk_paths))
    expected = model_utils_rows(rows)
    inits = []
    real_init = models.Model.__init__

    def counting_init(self, *args, **kwargs):
        inits.append(type(self))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(models.Model, "__init__", counting_init)
    monkeypatch.setattr(loading, "PLAIN_INITS", loading.PLAIN_INITS | {counting_init})
    with CaptureQueriesContext(connection) as ctx:
        loaded = list(rows)
    assert len(ctx.captured_queries) == 1
    assert inits == []
    monkeypatch.undo()
    assert [type(job) for job in loaded] == [type(job) for job in jobs]
    for mine, theirs in zip(loaded, expected, strict=True):
        assert {k: v for k, v in mine.__dict__.items() if k != "_state"} == {
            k: v for k, v in theirs.__dict__.items() if k != "_state"}
        assert mine.get_deferred_fields() == theirs.get_deferred_fields()
        assert "description" in mine.get_deferred_fields()
        assert mine._state.adding is False and mine._state.db == "default"
    condor = loaded[1]
    with CaptureQueriesContext(connection) as ctx:
        assert condor.description == "" and condor.extended_properties["cls"] == "CondorJob"
    assert len(ctx.captured_queries) == 1  # the deferred description, read when asked
    condor.extended_properties["x"] = 1
    condor.name = "renamed"
    assert sorted(condor._changed_fields()) == ["extended_properties", "name"]
    condor.save()
    stored = CondorJob.objects.get(pk=condor.pk)
    assert stored.extended_properties["x"] == 1 and stored.name == "renamed"


def test_a_subset_out_of_the_fields_order_keeps_djangos_path(jobs):
    basic = TethysJob.objects.select_subclasses().get(pk=jobs[0].pk)
    names = ["name", "id"]
    assert loading.build(BasicJob, "default", (basic.name, basic.id), field_names=names) \
        is None
    built = loading.build(BasicJob, "default", (basic.id, basic.name),
                          field_names=["id", "name"])
    assert built.__dict__["name"] == basic.name and "label" not in built.__dict__


def test_init_signals_are_sent_per_row_when_received(jobs):
    got = []

    def pre(sender, args, kwargs, **rest):
        got.append(("pre", sender))

    def post(sender, instance, **rest):
        got.append(("post", sender, instance.name))

    pre_init.connect(pre, sender=BasicJob)
    post_init.connect(post)
    try:
        loaded = list(TethysJob.objects.filter(label="test_app").select_subclasses())
    finally:
        pre_init.disconnect(pre, sender=BasicJob)
        post_init.disconnect(post)
    assert ("pre", BasicJob) in got
    assert [entry for entry in got if entry[0] == "post"] == [
        ("post", type(job), job.name) for job in loaded]
    # Without receivers, Django's path is left again (for a BasicJob's row: the rows
    # come in the order of the plan the database picked).
    basic = next(job for job in loaded if type(job) is BasicJob)
    assert loading.build(BasicJob, "default", tuple(field_values(basic).values()))


def test_a_job_class_with_its_own_init_keeps_it(jobs, monkeypatch):
    calls = []

    def own_init(self, *args, **kwargs):
        calls.append(len(args))
        models.Model.__init__(self, *args, **kwargs)

    monkeypatch.setattr(FakeEngineJob, "__init__", own_init)
    monkeypatch.setattr(FakeEngineJob, "_tc_load_plan", None)
    loaded = list(FakeEngineJob.objects.filter(label="test_app"))
    assert [job.name for job in loaded] == ["FakeEngineJob-job"]
    assert calls == [len(FakeEngineJob._meta.concrete_fields)]


def test_subsets_annotations_and_other_joins(jobs, user):
    qs = TethysJob.objects.filter(label="test_app").order_by("id")
    cases = [
        qs.select_subclasses(CondorJob),  # a CondorWorkflow row stays a TethysJob
        qs.select_subclasses("condorbase"),
        qs.select_subclasses().annotate(owner=Concat(F("user__username"), Value("!"))),
        qs.select_subclasses().extra(select={"twice": "id * 2"}),
        qs.select_subclasses().select_related("user"),  # model-utils' iterable
        qs.select_subclasses().defer("description"),
    ]
    for case in cases:
        with CaptureQueriesContext(connection) as ctx:
            loaded = list(case)
        assert len(ctx.captured_queries) == 1
        expected = model_utils_rows(case)
        assert [type(job) for job in loaded] == [type(job) for job in expected]
        for mine, theirs in zip(loaded, expected, strict=True):
            assert {k: v for k, v in mine.__dict__.items() if not k.startswith("_")} == {
                k: v for k, v in theirs.__dict__.items() if not k.startswith("_")}
    assert [type(job) for job in cases[0]][:3] == [TethysJob, CondorJob, TethysJob]
    assert [job.owner for job in cases[2]] == ["alice!"] * 6
    assert [job.twice for job in cases[3]] == [job.id * 2 for job in jobs]


def test_loaded_jobs_track_changes_as_before(jobs):
    loaded = {type(job): job for job in TethysJob.objects.filter(label="test_app")
              .select_subclasses()}
    condor = loaded[CondorJob]
    condor._attributes["executable"] = "run.sh"  # an in-place change of a JSON value
    condor.description = "changed"
    assert sorted(condor._changed_fields()) == ["_attributes", "description"]
    condor.save()
    stored = CondorJob.objects.get(pk=condor.pk)
    assert stored._attributes["executable"] == "run.sh" and stored.description == "changed"
    basic = loaded[BasicJob]
    with CaptureQueriesContext(connection) as ctx:
        basic.save()
    assert [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE")] == []
