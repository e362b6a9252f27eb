from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import AnonymousUser, Group
from django.test import RequestFactory

from tests.testapp.app import TestApp
from tests.testapp.models import EngineJob
from tethys_compute.job_manager import JOB_TYPES, JobManager
from tethys_compute.models import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    DaskJob,
    TethysJob,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return TestApp.get_job_manager()


def test_job_types_are_tethys():
    assert JOB_TYPES == {
        "CONDOR": CondorJob,
        "CONDORJOB": CondorJob,
        "CONDORWORKFLOW": CondorWorkflow,
        "BASIC": BasicJob,
        "DASK": DaskJob,
    }


def test_manager_accepts_app_instance_object_with_package_and_appconfig():
    assert JobManager(TestApp()).label == "test_app"

    class Stub:
        package = "stub_pkg"

    assert JobManager(Stub()).label == "stub_pkg"
    assert JobManager(apps.get_app_config("testapp")).label == "testapp"
    with pytest.raises(TypeError, match="package"):
        JobManager(object())


@pytest.mark.parametrize("job_type,cls", [("BASIC", BasicJob), ("basic", BasicJob), ("DASK", DaskJob),
                                          ("CONDOR", CondorJob), ("CONDORWORKFLOW", CondorWorkflow),
                                          (EngineJob, EngineJob)])
def test_create_job_types(manager, user, job_type, cls):
    job = manager.create_job("model run", user, job_type=job_type, description="d")
    assert type(job) is cls
    assert job.pk is None, "as Tethys: not saved unless groups are given"
    assert job.label == "test_app"
    assert job.user == user
    job.save()
    # proxies (EngineJob) load as their concrete class
    assert type(TethysJob.objects.get_subclass(pk=job.pk)) is cls._meta.concrete_model


def test_unknown_job_type_names_the_valid_ones(manager, user):
    with pytest.raises(ValueError) as error:
        manager.create_job("x", user, job_type="SLURM")
    for name in ("BASIC", "CONDOR", "CONDORJOB", "CONDORWORKFLOW", "DASK"):
        assert name in str(error.value)
    with pytest.raises(ValueError):
        manager.create_job("x", user)  # job_type None
    assert not TethysJob.objects.exists()


@pytest.mark.parametrize("name", ["", "  ", None])
def test_missing_name_is_refused(manager, user, name):
    with pytest.raises(ValueError, match="name"):
        manager.create_job(name, user, job_type="BASIC")


@pytest.mark.parametrize("bad_user", [None, AnonymousUser()])
def test_missing_user_is_refused(manager, bad_user):
    with pytest.raises(TypeError, match="user"):
        manager.create_job("x", bad_user, job_type="BASIC")


def test_each_job_gets_its_own_directory(manager, user, _workspaces):
    first = manager.create_job("a", user, job_type="BASIC")
    second = manager.create_job("b", user, job_type="BASIC")
    user_ws = _workspaces / "test_app" / "user_workspaces" / "alice"
    for job in (first, second):
        path = Path(job.workspace)
        assert path.is_dir() and path.parent == user_ws
    assert first.workspace != second.workspace


def test_workspace_root_honours_tethys_setting(manager, user, settings, tmp_path):
    settings.TETHYS_COMPUTE = {}
    settings.TETHYS_WORKSPACES_ROOT = str(tmp_path / "tethys_ws")
    job = manager.create_job("a", user, job_type="BASIC")
    assert Path(job.workspace).parent == tmp_path / "tethys_ws" / "test_app" / "user_workspaces" / "alice"


def test_label_and_workspace_can_be_overridden(manager, user, tmp_path):
    job = manager.create_job("a", user, job_type="BASIC", label="other", workspace=str(tmp_path))
    assert job.label == "other" and job.workspace == str(tmp_path)


def test_groups_single_and_list(manager, user):
    one, two = Group.objects.create(name="one"), Group.objects.create(name="two")
    job = manager.create_job("a", user, job_type="BASIC", groups=one)
    assert job.pk and list(job.groups.all()) == [one]
    job = manager.create_job("b", user, job_type="BASIC", groups=[one, two])
    assert set(job.groups.all()) == {one, two}
    with pytest.raises(TypeError):
        manager.create_job("c", user, job_type="BASIC", groups=["one"])


def test_id_template_filled_for_every_type(manager, user):
    for job_type in ("BASIC", "DASK", "CONDOR", "CONDORWORKFLOW", EngineJob):
        job = manager.create_job("run_{id}", user, job_type=job_type)
        job.save()
        assert job.name == f"run_{job.pk}"
        assert TethysJob.objects.get(pk=job.pk).name == f"run_{job.pk}"


def test_list_jobs(manager, user, other_user):
    mine = [manager.create_job(f"m{i}", user, job_type="BASIC") for i in range(3)]
    for job in mine:
        job.save()
    theirs = manager.create_job("t", other_user, job_type="DASK")
    theirs.save()
    foreign = JobManager(type("A", (), {"package": "other_app"})()).create_job("f", user, job_type="BASIC")
    foreign.save()
    assert list(manager.list_jobs(user)) == mine
    assert [type(j) for j in manager.list_jobs()] == [BasicJob] * 3 + [DaskJob]
    assert list(manager.list_jobs(user, order_by="-id"))[0] == mine[-1]


def test_list_jobs_groups_returns_each_job_once(manager, user):
    one, two = Group.objects.create(name="one"), Group.objects.create(name="two")
    shared = manager.create_job("both", user, job_type="BASIC", groups=[one, two])
    single = manager.create_job("one", user, job_type="BASIC", groups=[one])
    assert list(manager.list_jobs(groups=[one, two])) == [shared, single]
    assert list(manager.list_jobs(groups=two)) == [shared]


def test_list_jobs_does_not_mutate_filters(manager, user):
    filters = {"name__startswith": "a"}
    manager.list_jobs(user, filters=filters)
    assert filters == {"name__startswith": "a"}


def test_list_jobs_user_and_groups_are_exclusive(manager, user):
    with pytest.raises(ValueError, match="mutually exclusive"):
        manager.list_jobs(user=user, groups=[])


def test_get_job(manager, user, other_user):
    job = manager.create_job("a", user, job_type="DASK")
    job.save()
    assert isinstance(manager.get_job(job.pk), DaskJob)
    assert manager.get_job(job.pk, user=user) == job
    assert manager.get_job(job.pk, user=other_user) is None
    assert manager.get_job(999999) is None
    assert manager.get_job("not-an-id") is None
    filters = {"name": "a"}
    assert manager.get_job(job.pk, filters=filters) == job
    assert filters == {"name": "a"}
    other_app = JobManager(type("A", (), {"package": "other_app"})())
    assert other_app.get_job(job.pk) is None


def test_callback_urls(manager):
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    assert manager.get_job_status_callback_url(request, 27) == "http://testserver/update-job-status/27/"
    assert manager.get_job_status_report_url(request, 27) == "http://testserver/report-job-status/27/"


def test_tethys_controller_code_runs_unchanged(user):
    """A Tethys app controller's job code, with only its imports changed."""
    # from tethys_sdk.jobs import BasicJob -> from tethys_compute.models import BasicJob
    app = TestApp
    job_manager = app.get_job_manager()
    job = job_manager.create_job(
        name="flood_{id}", user=user, job_type="BASIC", description="Flood model",
        extended_properties={"return_period": 100},
    )
    job.save()
    job.execute()
    assert job.status == "Submitted"
    job.status = "Running"
    job.status = "Complete"
    jobs = job_manager.list_jobs(user)
    assert [j.name for j in jobs] == [f"flood_{job.pk}"]
    fetched = job_manager.get_job(job.pk, user)
    assert fetched.status == "Complete"
    assert fetched.extended_properties["return_period"] == 100


def test_get_job_reuses_its_compiled_select(manager, user, other_user):
    """get_job by id (no filters) loads through the SELECT compiled once, as the callbacks
    do (issue 17: compiling the 7-join SELECT cost more than running it)."""
    from django.contrib.auth.models import AnonymousUser

    from tests.views.test_job_lookup import Compilations

    job = manager.create_job("a", user, job_type="BASIC")
    job.save()
    assert manager.get_job(job.pk, user=user) == job  # the first load may compile
    with Compilations() as compiled:
        for _ in range(5):
            found = manager.get_job(job.pk, user=user)
            assert found == job and type(found) is type(job)
    assert compiled.count == 0
    # The same answers as the filtered query gave.
    assert manager.get_job(str(job.pk), user=user.pk) == job
    assert manager.get_job(job.pk, user=other_user) is None
    assert manager.get_job(job.pk, user=AnonymousUser()) is None
    assert manager.get_job(None) is None
