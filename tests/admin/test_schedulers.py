"""Scheduler admins: write-only secrets, connection test action, Dask dashboard page."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse

from tests.testapp.app import TestApp
from tethys_compute.models import CondorScheduler, DaskScheduler, SchedulerSetting

from .conftest import PASSPHRASE, PASSWORD, grant

pytestmark = pytest.mark.django_db

CONDOR_CHANGELIST = reverse("admin:tethys_compute_condorscheduler_changelist")
CONDOR_ADD = reverse("admin:tethys_compute_condorscheduler_add")
DASK_CHANGELIST = reverse("admin:tethys_compute_daskscheduler_changelist")


def change_url(scheduler):
    return reverse(f"admin:tethys_compute_{scheduler._meta.model_name}_change",
                   args=[scheduler.pk])


def raw_secrets(pk):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password, private_key_pass FROM tethys_compute_condorscheduler "
            "WHERE scheduler_ptr_id = %s", [pk])
        return cursor.fetchone()


def condor_post(**overrides):
    data = {"name": "pool", "host": "submit.example.org", "port": "22", "username": "condor",
            "private_key_path": "", "new_password": "", "new_private_key_pass": ""}
    data.update(overrides)
    return data


def assert_no_secret(response):
    body = response.content.decode()
    assert PASSWORD not in body
    assert PASSPHRASE not in body


# --- secrets -------------------------------------------------------------------------------
def test_add_stores_secrets_encrypted_and_never_shows_them(admin_client):
    response = admin_client.post(CONDOR_ADD, condor_post(
        new_password=PASSWORD, private_key_path="/keys/id_rsa", new_private_key_pass=PASSPHRASE))
    assert response.status_code == 302, response.content.decode()[:2000]
    scheduler = CondorScheduler.objects.get(name="pool")
    assert scheduler.password == PASSWORD
    assert scheduler.private_key_pass == PASSPHRASE
    password, passphrase = raw_secrets(scheduler.pk)
    assert password.startswith("fernet$") and PASSWORD not in password
    assert passphrase.startswith("fernet$") and PASSPHRASE not in passphrase
    entry = LogEntry.objects.get(object_id=str(scheduler.pk))
    assert PASSWORD not in entry.change_message + entry.object_repr


def test_secrets_absent_from_every_admin_page(admin_client, condor_scheduler, make_job):
    job = make_job("condor job", job_type="CONDOR", scheduler=condor_scheduler)
    TestApp.sync_scheduler_settings()
    setting = SchedulerSetting.objects.get(app_package="test_app", name="condor_primary")
    urls = [
        reverse("admin:tethys_compute_tethysjob_changelist"),
        reverse("admin:tethys_compute_tethysjob_change", args=[job.pk]),
        reverse("admin:tethys_compute_schedulersetting_changelist"),
        reverse("admin:tethys_compute_schedulersetting_change", args=[setting.pk]),
        reverse("admin:index"),
        reverse("admin:app_list", args=["tethys_compute"]),
        CONDOR_CHANGELIST,
        CONDOR_CHANGELIST + "?q=pool",
        CONDOR_ADD,
        change_url(condor_scheduler),
        reverse("admin:tethys_compute_condorscheduler_history", args=[condor_scheduler.pk]),
        reverse("admin:tethys_compute_condorscheduler_delete", args=[condor_scheduler.pk]),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response)
    # The changelist says how it logs in, without the secrets.
    changelist = admin_client.get(CONDOR_CHANGELIST).content.decode()
    assert "password, private key + passphrase" in changelist


def test_change_form_states_whether_a_secret_is_stored(admin_client, condor_scheduler):
    body = admin_client.get(change_url(condor_scheduler)).content.decode()
    assert "A password is stored; leave blank to keep it." in body
    assert 'name="new_password"' in body and 'name="clear_password"' in body
    assert 'value="' + PASSWORD not in body


def test_blank_secret_keeps_the_stored_value(admin_client, condor_scheduler):
    response = admin_client.post(change_url(condor_scheduler), condor_post(
        port="2200", private_key_path="/keys/id_rsa"))
    assert response.status_code == 302
    condor_scheduler.refresh_from_db()
    assert condor_scheduler.port == 2200
    assert condor_scheduler.password == PASSWORD
    assert condor_scheduler.private_key_pass == PASSPHRASE
    assert all(value.startswith("fernet$") for value in raw_secrets(condor_scheduler.pk))
    history = admin_client.get(
        reverse("admin:tethys_compute_condorscheduler_history", args=[condor_scheduler.pk]))
    assert_no_secret(history)


def test_new_secret_replaces_the_stored_one(admin_client, condor_scheduler):
    response = admin_client.post(change_url(condor_scheduler), condor_post(
        new_password="n3w-pa55", private_key_path="/keys/id_rsa"))
    assert response.status_code == 302
    condor_scheduler.refresh_from_db()
    assert condor_scheduler.password == "n3w-pa55"
    assert condor_scheduler.private_key_pass == PASSPHRASE
    entry = LogEntry.objects.filter(object_id=str(condor_scheduler.pk)).latest("action_time")
    assert "n3w-pa55" not in entry.change_message
    assert "Password" in entry.get_change_message()


def test_clear_removes_a_stored_secret(admin_client, condor_scheduler):
    response = admin_client.post(change_url(condor_scheduler), condor_post(
        clear_password="on", clear_private_key_pass="on", private_key_path="/keys/id_rsa"))
    assert response.status_code == 302
    condor_scheduler.refresh_from_db()
    assert condor_scheduler.password is None
    assert condor_scheduler.private_key_pass is None
    assert raw_secrets(condor_scheduler.pk) == (None, None)


def test_new_value_and_clear_together_is_refused(admin_client, condor_scheduler):
    response = admin_client.post(change_url(condor_scheduler), condor_post(
        new_password="typed-N3w-secret", clear_password="on", private_key_path="/keys/id_rsa"))
    assert response.status_code == 200
    assert "Enter a new password or clear it, not both." in response.content.decode()
    assert_no_secret(response)
    assert "typed-N3w-secret" not in response.content.decode()
    condor_scheduler.refresh_from_db()
    assert condor_scheduler.password == PASSWORD


def test_form_error_page_does_not_echo_a_typed_secret(admin_client):
    response = admin_client.post(CONDOR_ADD, condor_post(port="70000", new_password=PASSWORD))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Ensure this value is less than or equal to 65535." in body
    assert_no_secret(response)
    assert not CondorScheduler.objects.exists()


def test_passphrase_without_key_and_relative_key_path_are_refused(admin_client):
    response = admin_client.post(CONDOR_ADD, condor_post(new_private_key_pass=PASSPHRASE))
    assert "A passphrase opens a private key: set the private key path too." in \
        response.content.decode()
    response = admin_client.post(CONDOR_ADD, condor_post(private_key_path="keys/id_rsa"))
    assert "Give an absolute path" in response.content.decode()
    assert not CondorScheduler.objects.exists()


# --- permissions -----------------------------------------------------------------------------
@pytest.mark.parametrize("url_name", [
    "admin:tethys_compute_condorscheduler_changelist",
    "admin:tethys_compute_daskscheduler_changelist",
    "admin:tethys_compute_condorscheduler_add",
])
def test_staff_without_permission_is_refused(staff_client, url_name):
    assert staff_client.get(reverse(url_name)).status_code == 403


def test_staff_without_permission_cannot_open_a_scheduler(staff_client, condor_scheduler):
    assert staff_client.get(change_url(condor_scheduler)).status_code == 403


def test_anonymous_is_sent_to_login(client, condor_scheduler):
    response = client.get(change_url(condor_scheduler))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- connection test action -------------------------------------------------------------------
def run_action(client, changelist, scheduler, action="test_connection"):
    return client.post(changelist, {"action": action, "_selected_action": [scheduler.pk]},
                       follow=True)


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_connection_success_is_shown(admin_client, dask_scheduler, monkeypatch):
    calls = []

    def test_connection(self):
        calls.append(self.pk)
        return "Connected to tcp://127.0.0.1:8786: 2 workers."

    monkeypatch.setattr(DaskScheduler, "test_connection", test_connection, raising=False)
    response = run_action(admin_client, DASK_CHANGELIST, dask_scheduler)
    assert calls == [dask_scheduler.pk]
    assert messages_of(response) == [
        ("success", '"cluster": Connected to tcp://127.0.0.1:8786: 2 workers.')]


def test_connection_failure_is_shown_with_secrets_masked(admin_client, condor_scheduler,
                                                          monkeypatch):
    def test_connection(self):
        assert type(self) is CondorScheduler and self.password == PASSWORD
        raise OSError(f"Authentication failed for condor with {self.password}")

    monkeypatch.setattr(CondorScheduler, "test_connection", test_connection, raising=False)
    response = run_action(admin_client, CONDOR_CHANGELIST, condor_scheduler)
    assert messages_of(response) == [
        ("error", '"pool": connection failed: OSError: Authentication failed for condor '
                  "with ******")]
    assert_no_secret(response)


def test_connection_test_not_available_is_a_warning(admin_client, condor_scheduler, monkeypatch):
    def test_connection(self):
        raise NotImplementedError

    monkeypatch.setattr(CondorScheduler, "test_connection", test_connection, raising=False)
    response = run_action(admin_client, CONDOR_CHANGELIST, condor_scheduler)
    assert messages_of(response) == [
        ("warning", '"pool": Connection tests are not available for HTCondor Schedulers.')]


def test_connection_action_needs_change_permission(client, staff_user, dask_scheduler,
                                                   monkeypatch):
    calls = []
    monkeypatch.setattr(DaskScheduler, "test_connection", lambda self: calls.append(1),
                        raising=False)
    client.force_login(grant(staff_user, "view_daskscheduler"))
    response = run_action(client, DASK_CHANGELIST, dask_scheduler)
    assert response.status_code == 200
    assert calls == []
    assert "test_connection" not in response.content.decode()


# --- Dask dashboard -----------------------------------------------------------------------------
def dashboard_url(scheduler, page="status"):
    return reverse("admin:dask_dashboard", kwargs={"dask_scheduler_id": scheduler.pk,
                                                   "page": page})


def test_changelist_links_the_dashboard_page_not_the_raw_address(admin_client, dask_scheduler):
    body = admin_client.get(DASK_CHANGELIST).content.decode()
    assert f'href="{dashboard_url(dask_scheduler)}"' in body
    assert 'href="http://127.0.0.1:8787/' not in body


def test_dashboard_page_frames_the_dashboard(admin_client, dask_scheduler):
    response = admin_client.get(dashboard_url(dask_scheduler, "workers"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'src="http://127.0.0.1:8787/workers"' in body
    for page in ("status", "tasks", "system", "profile", "graph", "groups"):
        assert f'href="{dashboard_url(dask_scheduler, page)}"' in body
    default = admin_client.get(
        reverse("admin:tethys_compute_daskscheduler_dashboard", args=[dask_scheduler.pk]))
    assert 'src="http://127.0.0.1:8787/status"' in default.content.decode()


def test_dashboard_needs_admin_login_and_permission(client, staff_user, dask_scheduler):
    url = dashboard_url(dask_scheduler)
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(staff_user)
    assert client.get(url).status_code == 403
    client.force_login(grant(staff_user, "view_daskscheduler"))
    assert client.get(url).status_code == 200


def test_dashboard_unknown_page_or_scheduler_is_404(admin_client, dask_scheduler):
    assert admin_client.get(dashboard_url(dask_scheduler, "evil")).status_code == 404
    missing = reverse("admin:dask_dashboard", kwargs={"dask_scheduler_id": 999999,
                                                      "page": "status"})
    assert admin_client.get(missing).status_code == 404


def test_dashboard_with_unsafe_address_is_not_framed(admin_client, dask_scheduler):
    DaskScheduler.objects.filter(pk=dask_scheduler.pk).update(dashboard="javascript:alert(1)")
    body = admin_client.get(dashboard_url(dask_scheduler)).content.decode()
    assert "javascript:" not in body
    assert "No valid dashboard address is set" in body


def test_dask_form_normalises_the_dashboard_address(admin_client):
    response = admin_client.post(reverse("admin:tethys_compute_daskscheduler_add"), {
        "name": "c2", "host": "tcp://10.0.0.5:8786", "timeout": "", "heartbeat_interval": "3",
        "dashboard": "10.0.0.5:8787"})
    assert response.status_code == 302
    scheduler = DaskScheduler.objects.get(name="c2")
    assert scheduler.dashboard == "http://10.0.0.5:8787/"
    assert (scheduler.timeout, scheduler.heartbeat_interval) == (0, 3)


def test_dask_form_refuses_bad_values(admin_client):
    response = admin_client.post(reverse("admin:tethys_compute_daskscheduler_add"), {
        "name": "c2", "host": "tcp://10.0.0.5 :8786", "timeout": "-1", "heartbeat_interval": "0",
        "dashboard": "ftp://10.0.0.5/"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "A scheduler address has no spaces." in body
    assert "Ensure this value is greater than or equal to 0." in body
    assert "is not an http(s) address of a Dask dashboard" in body
    assert not DaskScheduler.objects.exists()


# --- limits ---------------------------------------------------------------------------------
def test_max_request_memory_is_set_in_the_admin_and_checked(admin_client):
    assert 'name="max_request_memory"' in admin_client.get(CONDOR_ADD).content.decode()
    response = admin_client.post(CONDOR_ADD, condor_post(max_request_memory="-5"))
    assert response.status_code == 200 and "max_request_memory" in response.content.decode()
    response = admin_client.post(CONDOR_ADD, condor_post(max_request_memory="65536"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CondorScheduler.objects.get(name="pool").max_request_memory == 65536
