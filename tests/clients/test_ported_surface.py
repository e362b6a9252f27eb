"""What real apps call beyond their own families (reference F2, F3, F5-F8, F22, F24),
written as the apps write it: job_type forms, model kwargs and the ``workspace=``
override, status display names and codes, attributes read directly, the ORM surface,
``list_jobs`` results, owners, and the test harness (``TethysTestCase``, the patch target
``tethys_compute.job_manager.get_user_workspace``, a bare ``TethysAppBase()``)."""

import os
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from tests.testapp.app import TestApp
from tethys_compute import status as st
from tethys_compute.app_base import TethysAppBase
from tethys_compute.models import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    DaskJob,
    TethysJob,
)
from tethys_compute.testing import TethysTestCase
from tethys_compute.workspaces import user_workspace

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("job_type, cls", [("DASK", DaskJob), ("CONDORWORKFLOW", CondorWorkflow),
                                           ("CONDOR", CondorJob), ("BASIC", BasicJob),
                                           (DaskJob, DaskJob), (BasicJob, BasicJob)])
def test_job_type_forms(user, job_type, cls):
    job = TestApp.get_job_manager().create_job("j", user, job_type=job_type)
    assert type(job) is cls and job.pk is None  # create_job does not save (F4)


def test_workspace_override_wins_and_the_user_workspace_is_still_made(user, tmp_path):
    chosen = str(tmp_path / "chosen" / "step")
    job = TestApp.get_job_manager().create_job(
        "wf", user, job_type="CONDORWORKFLOW", workspace=chosen, max_jobs={"a": 2},
        description="d", extended_properties={"k": 1})
    assert job.workspace == chosen and os.path.dirname(job.workspace) == str(tmp_path / "chosen")
    assert (job.max_jobs, job.description, job.extended_properties) == ({"a": 2}, "d", {"k": 1})
    assert user_workspace("test_app", "alice").is_dir()  # as Tethys: made anyway


def test_status_display_names_and_codes_are_tethys_s(user):
    names = {"SUB": "Submitted", "RUN": "Running", "VAR": "Various", "COM": "Complete",
             "ERR": "Error", "ABT": "Aborted", "PEN": "Pending", "PAS": "Paused",
             "RES": "Results-Ready", "VCP": "Various-Complete"}
    for code, name in names.items():
        job = BasicJob(name=code, user=user, label="test_app", _status=code,
                       status_message="m")
        job.save()
        assert job.cached_status == name and TethysJob.objects.get(pk=job.pk)._status == code
    assert dict(st.STATUSES)["OTH"] == "Other"


def test_orm_surface_and_attributes_read_directly(user):
    made = BasicJob(name="b", user=user, label="test_app", _status="RUN", status_message="hi")
    made.save()
    workflow = CondorWorkflow(name="bare", user=user, label="test_app")  # no scheduler, no nodes
    workflow.save()
    assert type(TethysJob.objects.get_subclass(id=workflow.pk)) is CondorWorkflow
    listed = TethysJob.objects.filter(label="test_app").order_by("id").select_subclasses()
    assert [type(j) for j in listed] == [BasicJob, CondorWorkflow]
    with pytest.raises(DaskJob.DoesNotExist):
        DaskJob.objects.get(id=made.pk)
    for name in ("remote_id", "workspace", "creation_time", "completion_time", "user",
                 "extended_properties", "name"):
        getattr(workflow, name)
    assert TethysJob.objects.get(pk=made.pk).status_message == "hi"


def test_list_jobs_is_a_queryset_and_get_job_misses_as_none(user, other_user):
    manager = TestApp.get_job_manager()
    for name in ("a", "b", "c"):
        manager.create_job(name, user, job_type="BASIC").save()
    manager.create_job("theirs", other_user, job_type="BASIC").save()
    jobs = manager.list_jobs(user)  # positional user
    assert isinstance(jobs, QuerySet) and [j.name for j in jobs] == ["a", "b", "c"]
    assert [j.name for j in manager.list_jobs(order_by="-id", filters=None)][:1] == ["theirs"]
    assert manager.list_jobs(filters={"name": "b"}).delete()[0] >= 1
    assert manager.get_job(424242) is None and manager.get_job(job_id=424242) is None


def test_django_anonymous_user_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="saved, authenticated user"):
        TestApp.get_job_manager().create_job("anon", AnonymousUser(), job_type="BASIC")


def test_patching_get_user_workspace_as_client_tests_do(user, tmp_path):
    patched = str(tmp_path / "patched-workspace")
    with mock.patch("tethys_compute.job_manager.get_user_workspace") as get_ws:
        get_ws.return_value = SimpleNamespace(path=patched)
        job = TestApp.get_job_manager().create_job("p", user, job_type="BASIC")
    get_ws.assert_called_once()
    assert job.workspace.startswith(patched + os.sep)  # the job's own directory in it


def test_bare_app_base_instance_as_the_app(user):
    manager = TethysAppBase().get_job_manager()
    job = manager.create_job("bare", user, job_type="BASIC")
    job.save()
    assert job.label == "" and [j.pk for j in manager.list_jobs()] == [job.pk]


def test_execute_is_a_patchable_class_attribute(user):
    with mock.patch("tethys_compute.models.tethys_job.TethysJob.execute") as execute:
        TestApp.get_job_manager().create_job("x", user, job_type="BASIC").execute()
    execute.assert_called_once()


class TestWithTethysTestCase(TethysTestCase):
    """A client's own test, as apps write them."""

    def set_up(self):
        self.user = self.create_test_user("carol", "pw", "carol@example.org")
        self.admin = self.create_test_superuser("root", "pw")
        self.client = self.get_test_client()

    def tear_down(self):
        self.user.delete()

    def test_manager_in_a_tethys_test_case(self):
        job = TestApp.get_job_manager().create_job("t", self.user, job_type="BASIC")
        job.save()
        self.assertEqual(job.user.username, "carol")
        self.assertTrue(self.admin.is_superuser)
        self.assertEqual(self.client.get("/update-job-status/999999/").status_code, 200)
