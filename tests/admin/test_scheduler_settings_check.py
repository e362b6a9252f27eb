"""System checks tethys_compute.W006 / W007 (in tethys_compute/checks.py) about app
scheduler settings; they read the database, so they run only for named databases."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.testapp.app import TestApp
from tethys_compute.checks import check_scheduler_settings
from tethys_compute.models import SchedulerSetting

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(db):
    TestApp.sync_scheduler_settings()
    return {s.name: s for s in SchedulerSetting.objects.filter(app_package="test_app")}


def ids(messages):
    return [(m.id, m.obj) for m in messages]


def test_required_unassigned_setting_is_warned(rows):
    messages = check_scheduler_settings(databases=["default"])
    assert ids(messages) == [("tethys_compute.W006", "test_app:dask_primary")]
    assert messages[0].msg == ('The required scheduler setting "dask_primary" of app '
                               '"test_app" has no scheduler assigned.')
    assert "tethys_compute_schedulers link <scheduler> test_app:dask_primary" in messages[0].hint
    assert "a Dask scheduler" in messages[0].hint


def test_not_run_without_a_database(rows, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert check_scheduler_settings(databases=None) == []


def test_declared_but_not_synced_setting_is_warned(rows):
    SchedulerSetting.objects.filter(app_package="test_app").delete()
    assert ids(check_scheduler_settings(databases=["default"])) == [
        ("tethys_compute.W006", "test_app:dask_primary")]


def test_assigned_setting_is_quiet(rows, dask_scheduler):
    rows["dask_primary"].scheduler_service = dask_scheduler
    rows["dask_primary"].save()
    assert check_scheduler_settings(databases=["default"]) == []


def test_wrong_engine_assignment_is_warned(rows, dask_scheduler, condor_scheduler):
    SchedulerSetting.objects.filter(pk=rows["dask_primary"].pk).update(
        scheduler_service=condor_scheduler)
    SchedulerSetting.objects.filter(pk=rows["condor_primary"].pk).update(
        scheduler_service=dask_scheduler)
    messages = check_scheduler_settings(databases=["default"])
    assert ids(messages) == [("tethys_compute.W007", "test_app:dask_primary"),
                             ("tethys_compute.W007", "test_app:condor_primary")]
    assert messages[0].msg == ('The scheduler setting "dask_primary" of app "test_app" takes '
                               'a Dask scheduler, not the HTCondor scheduler "pool".')


def test_check_command_with_database_reports_it(rows):
    err = StringIO()
    call_command("check", "--database", "default", stderr=err, stdout=StringIO())
    assert "tethys_compute.W006" in err.getvalue()
    plain = StringIO()
    call_command("check", stderr=plain, stdout=StringIO())
    assert "tethys_compute.W006" not in plain.getvalue()
