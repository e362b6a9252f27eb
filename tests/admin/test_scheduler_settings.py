"""App scheduler settings admin: engine-checked assignment, required settings flagged."""

import pytest
from django.urls import reverse

from tests.testapp.app import TestApp
from tethys_compute.models import SchedulerSetting

from .conftest import grant

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tethys_compute_schedulersetting_changelist")


@pytest.fixture
def settings_rows(db):
    TestApp.sync_scheduler_settings()
    return {s.name: s for s in SchedulerSetting.objects.filter(app_package="test_app")}


def change_url(setting):
    return reverse("admin:tethys_compute_schedulersetting_change", args=[setting.pk])


def test_changelist_flags_required_unassigned_settings(admin_client, settings_rows):
    response = admin_client.get(CHANGELIST)
    body = response.content.decode()
    assert "dask_primary" in body and "condor_primary" in body
    assert body.count("Required: not assigned") == 1
    assert [str(m) for m in response.context["messages"]] == [
        "1 required setting(s) have no scheduler: test_app:dask_primary. The apps cannot get "
        "a scheduler for them until one is assigned."]
    assert "Optional: not assigned" in body
    missing = admin_client.get(CHANGELIST + "?assignment=missing").content.decode()
    assert "dask_primary" in missing and "condor_primary" not in missing


def test_changelist_shows_settings_declared_since_the_last_sync(admin_client, db):
    SchedulerSetting.objects.all().delete()
    body = admin_client.get(CHANGELIST).content.decode()
    assert "dask_primary" in body and "condor_primary" in body


def test_dropdown_offers_only_schedulers_of_the_setting_engine(
        admin_client, settings_rows, dask_scheduler, condor_scheduler):
    body = admin_client.get(change_url(settings_rows["dask_primary"])).content.decode()
    assert f'<option value="{dask_scheduler.pk}">cluster (tcp://127.0.0.1:8786)</option>' in body
    assert f'value="{condor_scheduler.pk}"' not in body
    body = admin_client.get(change_url(settings_rows["condor_primary"])).content.decode()
    assert f'value="{condor_scheduler.pk}"' in body
    assert f'value="{dask_scheduler.pk}"' not in body


def test_assigning_a_scheduler_of_the_right_engine(admin_client, settings_rows, dask_scheduler):
    setting = settings_rows["dask_primary"]
    response = admin_client.post(change_url(setting), {"scheduler_service": dask_scheduler.pk})
    assert response.status_code == 302
    setting.refresh_from_db()
    assert setting.scheduler_service_id == dask_scheduler.pk
    assert TestApp.get_scheduler("dask_primary") == dask_scheduler
    assert "Required: not assigned" not in admin_client.get(CHANGELIST).content.decode()


def test_a_scheduler_of_another_engine_is_refused(admin_client, settings_rows, condor_scheduler):
    setting = settings_rows["dask_primary"]
    response = admin_client.post(change_url(setting), {"scheduler_service": condor_scheduler.pk})
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    setting.refresh_from_db()
    assert setting.scheduler_service_id is None


def test_a_required_setting_cannot_be_left_empty(admin_client, settings_rows, dask_scheduler):
    setting = settings_rows["dask_primary"]
    setting.scheduler_service = dask_scheduler
    setting.save()
    response = admin_client.post(change_url(setting), {"scheduler_service": ""})
    assert response.status_code == 200
    assert "Required." in response.content.decode()
    setting.refresh_from_db()
    assert setting.scheduler_service_id == dask_scheduler.pk


def test_an_optional_setting_can_be_unassigned(admin_client, settings_rows, condor_scheduler):
    setting = settings_rows["condor_primary"]
    setting.scheduler_service = condor_scheduler
    setting.save()
    response = admin_client.post(change_url(setting), {"scheduler_service": ""})
    assert response.status_code == 302
    setting.refresh_from_db()
    assert setting.scheduler_service_id is None


def test_declared_fields_are_read_only(admin_client, settings_rows, condor_scheduler):
    setting = settings_rows["condor_primary"]
    admin_client.post(change_url(setting), {
        "scheduler_service": condor_scheduler.pk, "name": "renamed", "required": "on",
        "engine": "dask"})
    setting.refresh_from_db()
    assert (setting.name, setting.required, setting.engine) == (
        "condor_primary", False, "htcondor")


def test_settings_cannot_be_added_or_deleted(admin_client, settings_rows):
    assert admin_client.get(
        reverse("admin:tethys_compute_schedulersetting_add")).status_code == 403
    setting = settings_rows["condor_primary"]
    assert admin_client.get(
        reverse("admin:tethys_compute_schedulersetting_delete", args=[setting.pk])
    ).status_code == 403


def test_staff_without_permission_is_refused(staff_client, settings_rows):
    assert staff_client.get(CHANGELIST).status_code == 403
    assert staff_client.get(change_url(settings_rows["dask_primary"])).status_code == 403


def test_staff_with_view_permission_cannot_assign(client, staff_user, settings_rows,
                                                  dask_scheduler):
    client.force_login(grant(staff_user, "view_schedulersetting"))
    setting = settings_rows["dask_primary"]
    assert client.get(change_url(setting)).status_code == 200
    response = client.post(change_url(setting), {"scheduler_service": dask_scheduler.pk})
    assert response.status_code == 403
    setting.refresh_from_db()
    assert setting.scheduler_service_id is None
