import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from tests.testapp.app import TestApp
from tethys_compute.app_base import TethysAppBase, registered_apps
from tethys_compute.exceptions import TethysAppSettingDoesNotExist, TethysAppSettingNotAssigned
from tethys_compute.models import SchedulerSetting
from tethys_compute.scheduler_manager import create_condor_scheduler, create_dask_scheduler

pytestmark = pytest.mark.django_db


def test_registry_finds_app_modules():
    assert registered_apps()["test_app"] is TestApp


def test_the_app_modules_are_searched_once_per_installed_apps(monkeypatch, settings):
    """The admin's app filter asks for the apps on every changelist request: the search of
    each installed app's ``app`` module (a file-system look-up per app, about 0.6 ms) is
    done once, and again when ``INSTALLED_APPS`` changes."""
    from django.utils import module_loading

    registered_apps()
    searches = []
    real = module_loading.module_has_submodule
    monkeypatch.setattr(module_loading, "module_has_submodule",
                        lambda *args: searches.append(args) or real(*args))
    assert registered_apps()["test_app"] is TestApp
    assert searches == []
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.humanize"]
    assert registered_apps()["test_app"] is TestApp
    assert searches, "INSTALLED_APPS changed: searched again"


def test_package_defaults_to_the_package_of_the_module():
    class Anything(TethysAppBase):
        pass

    assert Anything.package == "tests"
    assert Anything.name == "Anything"


def test_get_job_manager_touches_no_database(django_assert_num_queries):
    SchedulerSetting.objects.all().delete()
    with django_assert_num_queries(0):
        manager = TestApp.get_job_manager()
    assert manager.label == "test_app"
    assert not SchedulerSetting.objects.exists()


def test_first_use_syncs_declared_settings():
    SchedulerSetting.objects.all().delete()
    with pytest.raises(TethysAppSettingNotAssigned):
        TestApp.get_scheduler("dask_primary")
    rows = {s.name: s for s in SchedulerSetting.objects.filter(app_package="test_app")}
    assert set(rows) == {"dask_primary", "condor_primary"}
    assert rows["dask_primary"].engine == SchedulerSetting.DASK and rows["dask_primary"].required
    assert rows["condor_primary"].engine == SchedulerSetting.HTCONDOR and not rows["condor_primary"].required


def test_migrate_syncs_settings(django_db_blocker):
    call_command("migrate", verbosity=0)
    assert SchedulerSetting.objects.filter(app_package="test_app").count() == 2


def test_get_scheduler_returns_the_subclass():
    TestApp.sync_scheduler_settings()
    dask = create_dask_scheduler("cluster", "tcp://127.0.0.1:8786")
    dask.save()
    SchedulerSetting.objects.filter(app_package="test_app", name="dask_primary").update(scheduler_service=dask)
    scheduler = TestApp.get_scheduler("dask_primary")
    assert type(scheduler).__name__ == "DaskScheduler" and scheduler.host == "tcp://127.0.0.1:8786"


def test_get_scheduler_errors():
    with pytest.raises(TethysAppSettingDoesNotExist, match='"nope"'):
        TestApp.get_scheduler("nope")
    with pytest.raises(TethysAppSettingNotAssigned, match="no Scheduler assigned"):
        TestApp.get_scheduler("dask_primary")


def test_get_scheduler_after_rows_vanish():
    TestApp.sync_scheduler_settings()
    SchedulerSetting.objects.all().delete()
    with pytest.raises(TethysAppSettingNotAssigned):
        TestApp.get_scheduler("dask_primary")


def test_engine_mismatch_is_a_validation_error():
    TestApp.sync_scheduler_settings()
    condor = create_condor_scheduler("pool", "submit.example.org", username="u")
    condor.save()
    setting = SchedulerSetting.objects.get(app_package="test_app", name="dask_primary")
    setting.scheduler_service = condor
    with pytest.raises(ValidationError, match="Please select a Dask Scheduler"):
        setting.full_clean()
    setting.scheduler_service = None
    with pytest.raises(ValidationError, match="Required"):
        setting.full_clean()
    other = SchedulerSetting.objects.get(app_package="test_app", name="condor_primary")
    dask = create_dask_scheduler("c", "tcp://x:1")
    dask.save()
    other.scheduler_service = dask
    with pytest.raises(ValidationError, match="Please select a Condor Scheduler"):
        other.full_clean()
    other.scheduler_service = condor
    other.full_clean()


def test_resync_keeps_assignments_and_removes_undeclared():
    TestApp.sync_scheduler_settings()
    dask = create_dask_scheduler("cluster", "tcp://127.0.0.1:8786")
    dask.save()
    SchedulerSetting.objects.filter(name="dask_primary").update(scheduler_service=dask)
    SchedulerSetting.objects.create(app_package="test_app", name="retired", engine="dask")

    class Changed(TestApp):
        package = "test_app"

        def scheduler_settings(self):
            return (
                SchedulerSetting(name="dask_primary", description="new words",
                                 engine=SchedulerSetting.DASK, required=False),
            )

    try:
        Changed.sync_scheduler_settings()
        rows = list(SchedulerSetting.objects.filter(app_package="test_app"))
        assert [r.name for r in rows] == ["dask_primary"]
        assert rows[0].scheduler_service_id == dask.pk
        assert rows[0].description == "new words" and rows[0].required is False
    finally:
        from tethys_compute import app_base

        app_base._registry["test_app"] = TestApp


def test_deleting_a_scheduler_unassigns_instead_of_deleting_the_setting():
    TestApp.sync_scheduler_settings()
    dask = create_dask_scheduler("cluster", "tcp://127.0.0.1:8786")
    dask.save()
    SchedulerSetting.objects.filter(name="dask_primary").update(scheduler_service=dask)
    dask.delete()
    setting = SchedulerSetting.objects.get(name="dask_primary")
    assert setting.scheduler_service is None


def test_bad_declarations_are_refused():
    class Twice(TethysAppBase):
        package = "twice_app"

        def scheduler_settings(self):
            return (SchedulerSetting(name="a", engine="dask"), SchedulerSetting(name="a", engine="dask"))

    class BadEngine(TethysAppBase):
        package = "bad_engine_app"

        def scheduler_settings(self):
            return (SchedulerSetting(name="a", engine="slurm"),)

    with pytest.raises(ValueError, match="twice"):
        Twice.sync_scheduler_settings()
    with pytest.raises(ValueError, match="slurm"):
        BadEngine.sync_scheduler_settings()
    assert not SchedulerSetting.objects.filter(app_package__in=["twice_app", "bad_engine_app"]).exists()
    from tethys_compute import app_base

    app_base._registry.pop("twice_app")
    app_base._registry.pop("bad_engine_app")
