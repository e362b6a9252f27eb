from pathlib import Path

import pytest

from tests.testapp.app import TestApp
from tethys_compute.models import BasicJob, TethysJob
from tethys_compute.workspaces import is_own_job_directory, user_workspace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def manager():
    return TestApp.get_job_manager()


def test_delete_removes_only_the_jobs_own_directory(manager, user):
    keep = manager.create_job("keep", user, job_type="BASIC")
    keep.save()
    gone = manager.create_job("gone", user, job_type="BASIC")
    gone.save()
    (Path(gone.workspace) / "out.txt").write_text("result")
    (Path(keep.workspace) / "out.txt").write_text("result")
    gone.delete()
    assert not Path(gone.workspace).exists()
    assert (Path(keep.workspace) / "out.txt").exists()
    assert user_workspace("test_app", "alice").is_dir()


def test_queryset_delete_cleans_each_job(manager, user):
    jobs = [manager.create_job(f"j{i}", user, job_type="DASK") for i in range(3)]
    for job in jobs:
        job.save()
    TethysJob.objects.filter(pk__in=[j.pk for j in jobs]).delete()
    assert not any(Path(j.workspace).exists() for j in jobs)


def test_user_workspace_and_shared_directories_are_never_deleted(user, _workspaces):
    user_ws = user_workspace("test_app", "alice")
    user_ws.mkdir(parents=True)
    (user_ws / "precious.txt").write_text("keep me")
    tethys_style = BasicJob.objects.create(name="t", user=user, label="test_app", workspace=str(user_ws))
    tethys_style.delete()
    assert (user_ws / "precious.txt").exists()

    shared = user_ws / "job-shared"
    shared.mkdir()
    a = BasicJob.objects.create(name="a", user=user, label="test_app", workspace=str(shared))
    BasicJob.objects.create(name="b", user=user, label="test_app", workspace=str(shared))
    assert not is_own_job_directory(a)
    a.delete()
    assert shared.exists()


def test_directories_outside_the_root_are_never_deleted(user, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    job = BasicJob.objects.create(name="t", user=user, label="test_app", workspace=str(outside))
    job.delete()
    assert outside.exists()


def test_traversal_in_names_stays_inside(_workspaces):
    path = user_workspace("../../etc", "a/../../b")
    assert _workspaces in path.parents
    assert path.relative_to(_workspaces).parts[1] == "user_workspaces"
    for package, username in (("", "alice"), ("app", ".."), ("app", "")):
        with pytest.raises(ValueError, match="empty"):
            user_workspace(package, username)
