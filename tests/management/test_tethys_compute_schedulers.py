"""manage.py tethys_compute_schedulers: create, list, remove, link, test, reencrypt."""

import json
import re
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.testapp.app import TestApp
from tethys_compute import crypto
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler, SchedulerSetting

from .conftest import PASSPHRASE, PASSWORD

pytestmark = pytest.mark.django_db
CMD = "tethys_compute_schedulers"


def raw_secrets(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT password, private_key_pass FROM tethys_compute_condorscheduler "
                       "WHERE scheduler_ptr_id = %s", [pk])
        return cursor.fetchone()


# --- create -----------------------------------------------------------------------------------
def test_create_condor_with_secrets_from_stdin(run):
    result = run(CMD, "create-condor", "-n", "pool", "-e", "submit.example.org", "-o", "2222",
                 "-u", "condor", "-f", "/keys/id_rsa", "--private-key-pass-stdin",
                 stdin=PASSPHRASE + "\n")
    scheduler = CondorScheduler.objects.get(name="pool")
    assert result.out.strip() == f'Created HTCondor scheduler "pool" (id {scheduler.pk}).'
    assert result.err == ""
    assert (scheduler.host, scheduler.port, scheduler.username) == (
        "submit.example.org", 2222, "condor")
    assert scheduler.private_key_pass == PASSPHRASE and scheduler.password is None
    assert raw_secrets(scheduler.pk)[1].startswith("fernet$")
    assert PASSPHRASE not in result.out + result.err


def test_create_condor_with_password_option_warns(run):
    result = run(CMD, "create-condor", "-n", "pool", "-e", "h", "-u", "u", "-p", PASSWORD)
    assert CondorScheduler.objects.get(name="pool").password == PASSWORD
    assert "--password-stdin" in result.err
    assert PASSWORD not in result.out + result.err


def test_create_condor_with_password_stdin(run):
    run(CMD, "create-condor", "-n", "pool", "-e", "h", "-u", "u", "--password-stdin",
        stdin=PASSWORD + "\r\n")
    assert CondorScheduler.objects.get(name="pool").password == PASSWORD


@pytest.mark.parametrize("args, message", [
    (("-n", "p", "-e", "h", "-o", "0"),
     "SSH port: Ensure this value is greater than or equal to 1."),
    (("-n", "p", "-e", "h", "-f", "rel/key"), "Give an absolute path"),
    (("-n", "p", "-e", "h", "-k", "x"), "set the private key path too"),
    (("-n", "p", "-e", "h", "--password-stdin", "--private-key-pass-stdin"),
     "Only one secret can be read from standard input."),
    (("-n", "p", "-e", "h", "--password-stdin"), "--password-stdin: standard input is empty."),
])
def test_create_condor_bad_input(run, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run(CMD, "create-condor", *args, stdin="")
    assert not Scheduler.objects.exists()


def test_create_refuses_password_and_password_stdin_together(run):
    with pytest.raises(CommandError, match="not allowed with argument"):
        run(CMD, "create-condor", "-n", "p", "-e", "h", "-p", "x", "--password-stdin")


def test_create_refuses_a_duplicate_name(run, dask_scheduler):
    with pytest.raises(CommandError, match='A scheduler named "cluster" already exists'):
        run(CMD, "create-condor", "-n", "cluster", "-e", "h")
    assert Scheduler.objects.count() == 1


def test_create_dask_defaults_and_dashboard(run):
    result = run(CMD, "create-dask", "-n", "c", "-e", "tcp://10.0.0.5:8786",
                 "-d", "10.0.0.5:8787")
    scheduler = DaskScheduler.objects.get(name="c")
    assert result.out.strip() == f'Created Dask scheduler "c" (id {scheduler.pk}).'
    assert (scheduler.timeout, scheduler.heartbeat_interval, scheduler.dashboard) == (
        0, 0, "http://10.0.0.5:8787/")


@pytest.mark.parametrize("args, message", [
    (("-t", "-5"), "Ensure this value is greater than or equal to 0"),
    (("-t", "soon"), "invalid int value"),
    (("-d", "ftp://x/"), "is not an http\\(s\\) address"),
])
def test_create_dask_bad_input(run, args, message):
    with pytest.raises(CommandError, match=message):
        run(CMD, "create-dask", "-n", "c", "-e", "tcp://h:1", *args)
    assert not Scheduler.objects.exists()


def test_missing_action_is_an_error(run):
    with pytest.raises(CommandError, match="required: ACTION"):
        run(CMD)


# --- list --------------------------------------------------------------------------------------
def test_list_masks_secrets(run, condor_scheduler, dask_scheduler):
    result = run(CMD, "list")
    assert PASSWORD not in result.out and PASSPHRASE not in result.out
    lines = result.out.splitlines()
    assert lines[0] == "HTCondor schedulers:"
    assert lines[1].split() == ["ID", "NAME", "HOST", "PORT", "USERNAME", "PASSWORD",
                                "PRIVATE", "KEY", "PATH", "KEY", "PASSPHRASE"]
    assert lines[3].split() == [str(condor_scheduler.pk), "pool", "submit.example.org", "2222",
                                "condor", "******", "/keys/id_rsa", "******"]
    assert "Dask schedulers:" in lines
    assert lines[-1].split() == [str(dask_scheduler.pk), "cluster", "tcp://127.0.0.1:8786",
                                 "10", "5", "http://127.0.0.1:8787/"]


def test_list_json_and_type_filter(run, condor_scheduler, dask_scheduler):
    data = json.loads(run(CMD, "list", "--format", "json").out)
    assert [d["name"] for d in data] == ["pool", "cluster"]
    assert data[0]["password"] == "******" and data[0]["private_key_pass"] == "******"
    only = json.loads(run(CMD, "list", "-t", "dask", "--format", "json").out)
    assert [d["type"] for d in only] == ["dask"]
    CondorScheduler.objects.filter(pk=condor_scheduler.pk).update(password=None)
    data = json.loads(run(CMD, "list", "-t", "condor", "--format", "json").out)
    assert data[0]["password"] == ""


def test_list_works_when_secrets_cannot_be_decrypted(run, condor_scheduler, settings):
    settings.SECRET_KEY = "another-key-entirely"
    data = json.loads(run(CMD, "list", "-t", "condor", "--format", "json").out)
    assert data[0]["password"] == "******"


# --- remove ------------------------------------------------------------------------------------
@pytest.fixture
def linked(dask_scheduler):
    TestApp.sync_scheduler_settings()
    setting = SchedulerSetting.objects.get(app_package="test_app", name="dask_primary")
    setting.scheduler_service = dask_scheduler
    setting.save()
    return setting


def test_remove_asks_first(run, linked, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda: "n")
    with pytest.raises(CommandError, match="Aborted; nothing was deleted"):
        run(CMD, "remove", "cluster")
    assert DaskScheduler.objects.exists()
    monkeypatch.setattr("builtins.input", lambda: "yes")
    result = run(CMD, "remove", "cluster")
    assert 'Delete Dask Scheduler "cluster"' in result.out
    assert "assigned to 1 app setting(s)" in result.out
    assert 'Deleted Dask Scheduler "cluster".' in result.out
    assert "test_app:dask_primary has no scheduler now (required: assign another scheduler)." \
        in result.out
    linked.refresh_from_db()
    assert linked.scheduler_service_id is None


def test_remove_without_a_terminal_answer_aborts(run, dask_scheduler, monkeypatch):
    def eof():
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    with pytest.raises(CommandError, match="Aborted"):
        run(CMD, "remove", str(dask_scheduler.pk))
    assert DaskScheduler.objects.exists()


def test_remove_force_by_id(run, dask_scheduler):
    run(CMD, "remove", str(dask_scheduler.pk), "--force")
    assert not Scheduler.objects.exists()


def test_remove_unknown_or_ambiguous(run, dask_scheduler):
    # Unknown: exit 0 with a message, as Tethys (deploy scripts remove before create).
    assert 'No Scheduler named "nope". Nothing was removed.' in run(CMD, "remove", "nope",
                                                                   "-f").out
    DaskScheduler.objects.create(name="cluster", host="tcp://other:8786")
    with pytest.raises(CommandError, match='Several schedulers are named "cluster"'):
        run(CMD, "remove", "cluster", "-f")
    assert DaskScheduler.objects.count() == 2


# --- link / unlink / settings -------------------------------------------------------------------
def test_link_assigns_the_scheduler(run, dask_scheduler):
    result = run(CMD, "link", "cluster", "test_app:dask_primary")
    assert result.out.strip() == 'Linked "cluster" to test_app:dask_primary.'
    assert TestApp.get_scheduler("dask_primary") == dask_scheduler


def test_link_accepts_tethys_forms(run, condor_scheduler):
    run(CMD, "link", f"condor:{condor_scheduler.pk}", "test_app:ss_scheduler:condor_primary")
    assert TestApp.get_scheduler("condor_primary") == condor_scheduler


@pytest.mark.parametrize("scheduler, setting, message", [
    ("pool", "test_app:dask_primary",
     'test_app:dask_primary takes a Dask scheduler; "pool" is an HTCondor scheduler.'),
    ("cluster", "nope:dask_primary", 'No app "nope"'),
    ("cluster", "test_app:missing",
     'App "test_app" has no scheduler setting "missing" \\(its settings: condor_primary, '
     'dask_primary\\)'),
    ("cluster", "dask_primary", "Name the setting as <app>:<setting>"),
    ("dask:pool", "test_app:dask_primary", 'No Dask Scheduler named "pool".'),
])
def test_link_bad_input(run, condor_scheduler, dask_scheduler, scheduler, setting, message):
    with pytest.raises(CommandError, match=message):
        run(CMD, "link", scheduler, setting)
    assert not SchedulerSetting.objects.filter(scheduler_service__isnull=False).exists()


def test_unlink_and_settings_listing(run, linked):
    table = run(CMD, "settings").out.splitlines()
    assert table[0].split() == ["APP", "SETTING", "ENGINE", "REQUIRED", "SCHEDULER"]
    assert table[2].split() == ["test_app", "condor_primary", "HTCondor", "no", "-"]
    assert table[3].split() == ["test_app", "dask_primary", "Dask", "yes", "cluster"]
    result = run(CMD, "unlink", "test_app:dask_primary")
    assert "test_app:dask_primary has no scheduler now." in result.out
    assert "is required" in result.err
    data = json.loads(run(CMD, "settings", "--app", "test_app", "--format", "json").out)
    assert data[1] == {"app": "test_app", "setting": "dask_primary", "engine": "dask",
                       "required": True, "scheduler": None}
    assert "NOT ASSIGNED" in run(CMD, "settings").out
    with pytest.raises(CommandError, match='No app "ghost"'):
        run(CMD, "settings", "--app", "ghost")


# --- test ---------------------------------------------------------------------------------------
def test_test_success(run, dask_scheduler, monkeypatch):
    monkeypatch.setattr(DaskScheduler, "test_connection", lambda self: "2 workers", raising=False)
    result = run(CMD, "test", "cluster")
    assert result.out.strip() == '"cluster": 2 workers'


def test_test_failure_exits_non_zero_with_secrets_masked(run, condor_scheduler, dask_scheduler,
                                                         monkeypatch):
    def refuse(self):
        raise PermissionError(f"denied for {self.private_key_pass}")

    monkeypatch.setattr(CondorScheduler, "test_connection", refuse, raising=False)
    monkeypatch.setattr(DaskScheduler, "test_connection", lambda self: "ok", raising=False)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 2 connection test"):
        call_command(CMD, "test", "--all", stdout=out, stderr=err)
    assert out.getvalue().strip() == '"cluster": ok'
    assert err.getvalue().strip() == '"pool": connection failed: PermissionError: denied for ******'
    assert PASSPHRASE not in out.getvalue() + err.getvalue()


def test_test_needs_a_target(run):
    with pytest.raises(CommandError, match="one of the arguments scheduler --all is required"):
        run(CMD, "test")
    with pytest.raises(CommandError, match="There are no schedulers to test."):
        run(CMD, "test", "--all")


# --- reencrypt ----------------------------------------------------------------------------------
def test_reencrypt_moves_secrets_to_the_newest_key(run, condor_scheduler, settings):
    old = raw_secrets(condor_scheduler.pk)
    new_key = Fernet.generate_key().decode()
    old_key_only = {**settings.TETHYS_COMPUTE}
    # Explicit keys: the new one first, the key derived from SECRET_KEY kept for reading.
    settings.TETHYS_COMPUTE = {**old_key_only,
                               "SECRET_KEYS": [new_key, crypto._derive(settings.SECRET_KEY)
                                               .decode()]}
    result = run(CMD, "reencrypt")
    assert result.out.strip() == ("Re-encrypted 2 secret(s) with the newest key and encrypted "
                                  "0 plain-text secret(s), on 1 scheduler(s).")
    new = raw_secrets(condor_scheduler.pk)
    assert all(value.startswith("fernet$") for value in new) and new != old
    assert PASSWORD not in result.out
    settings.TETHYS_COMPUTE = {**old_key_only, "SECRET_KEYS": [new_key]}  # old key dropped
    scheduler = CondorScheduler.objects.get(pk=condor_scheduler.pk)
    assert (scheduler.password, scheduler.private_key_pass) == (PASSWORD, PASSPHRASE)


def test_reencrypt_encrypts_plain_text_left_by_tethys(run, condor_scheduler):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tethys_compute_condorscheduler SET password = %s "
                       "WHERE scheduler_ptr_id = %s", ["plain-from-tethys", condor_scheduler.pk])
    result = run(CMD, "reencrypt")
    assert "encrypted 1 plain-text secret(s)" in result.out
    assert raw_secrets(condor_scheduler.pk)[0].startswith("fernet$")
    assert CondorScheduler.objects.get(pk=condor_scheduler.pk).password == "plain-from-tethys"


def test_reencrypt_reports_secrets_it_cannot_open(run, condor_scheduler, settings):
    before = raw_secrets(condor_scheduler.pk)
    settings.SECRET_KEY = "a-different-key"
    with pytest.raises(CommandError, match='cannot be decrypted .*"pool" \\(password\\), '
                                           '"pool" \\(private key passphrase\\)'):
        run(CMD, "reencrypt")
    assert raw_secrets(condor_scheduler.pk) == before
