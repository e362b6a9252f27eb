"""CondorScheduler: local or SSH, test_connection(), secrets encrypted at rest."""

import pytest
from django.db import connection

from tests.htcondor_standin.scenarios import remote, remote_scheduler
from tethys_compute.engines.condor import ssh
from tethys_compute.exceptions import EngineUnavailable
from tethys_compute.models import CondorScheduler

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _pool():
    ssh.close_all()
    yield
    ssh.close_all()


def raw_row(scheduler):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password, private_key_pass FROM tethys_compute_condorscheduler "
            "WHERE scheduler_ptr_id = %s", [scheduler.pk])
        return cursor.fetchone()


def test_local_or_remote():
    assert CondorScheduler(name="l", host="localhost").is_local
    assert CondorScheduler(name="l", host="127.0.0.1").is_local
    assert not CondorScheduler(name="r", host="127.0.0.1", username="u").is_local
    assert not CondorScheduler(name="r", host="submit.example.org").is_local


def test_secrets_are_encrypted_at_rest_and_never_shown(settings):
    scheduler = CondorScheduler.objects.create(
        name="secretive", host="h", username="u", password="hunter2 password",
        private_key_path="/k", private_key_pass="key passphrase")
    password, passphrase = raw_row(scheduler)
    assert password.startswith("fernet$") and passphrase.startswith("fernet$")
    assert "hunter2" not in password and "passphrase" not in passphrase
    loaded = CondorScheduler.objects.get(pk=scheduler.pk)
    assert (loaded.password, loaded.private_key_pass) == ("hunter2 password", "key passphrase")
    assert "hunter2" not in str(loaded) and "hunter2" not in repr(loaded)


def test_rotating_the_secret_key(settings):
    settings.SECRET_KEY = "old key"
    scheduler = CondorScheduler.objects.create(name="rot", host="h", username="u", password="pw")
    old_token = raw_row(scheduler)[0]
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new key", ["old key"]
    loaded = CondorScheduler.objects.get(pk=scheduler.pk)
    assert loaded.password == "pw"  # still readable through the fallback
    loaded.save()  # re-encrypted with the new key
    assert raw_row(scheduler)[0] != old_token
    settings.SECRET_KEY_FALLBACKS = []
    assert CondorScheduler.objects.get(pk=scheduler.pk).password == "pw"
    settings.SECRET_KEY = "unrelated key"
    assert CondorScheduler.objects.get(pk=scheduler.pk).password is None  # unreadable, row loads


def test_plain_text_left_by_tethys_is_read_and_encrypted_on_save():
    scheduler = CondorScheduler.objects.create(name="legacy", host="h", username="u")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tethys_compute_condorscheduler SET password = %s "
                       "WHERE scheduler_ptr_id = %s", ["plain", scheduler.pk])
    loaded = CondorScheduler.objects.get(pk=scheduler.pk)
    assert loaded.password == "plain"
    loaded.save()
    assert raw_row(scheduler)[0].startswith("fernet$")


def test_test_connection_locally(standin):
    message = CondorScheduler(name="here", host="localhost").test_connection()
    assert message.startswith("Connected to this machine; condor_q answered: Total for query: 0 jobs")


@pytest.mark.parametrize("login", ["password", "rsa_pass", "ed25519"])
def test_test_connection_over_ssh(settings, ssh_server, login):
    remote(settings, ssh_server)
    scheduler = remote_scheduler(ssh_server, login)
    scheduler = CondorScheduler.objects.get(pk=scheduler.pk)  # decrypted from the database
    message = scheduler.test_connection()
    assert message == (f"Connected to {ssh_server.user}@127.0.0.1:{ssh_server.port}; condor_q "
                       "answered: Total for query: 0 jobs; 0 completed, 0 removed, 0 idle, "
                       "0 running, 0 held, 0 suspended")


def test_test_connection_failures_say_what_failed(settings, ssh_server, tmp_path):
    remote(settings, ssh_server)
    wrong = CondorScheduler(name="w", host="127.0.0.1", port=ssh_server.port,
                            username=ssh_server.user, password="wrong")
    with pytest.raises(EngineUnavailable, match="SSH login to .* was refused"):
        wrong.test_connection()
    closed = CondorScheduler(name="c", host="127.0.0.1", port=1, username="u", password="p")
    with pytest.raises(EngineUnavailable, match="Cannot connect to u@127.0.0.1:1"):
        closed.test_connection()
    unknown_hosts = tmp_path / "known_hosts"
    unknown_hosts.write_text("")
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "CONDOR_SSH_KNOWN_HOSTS": str(unknown_hosts)}
    good = remote_scheduler(ssh_server, "password", name="unknown host")
    with pytest.raises(EngineUnavailable, match="host key of 127.0.0.1:.* is not known"):
        good.test_connection()
    remote(settings, ssh_server)
    ssh_server.run_as_user("mv", "standin/bin/condor_q", "standin/bin/condor_q.off")
    try:
        with pytest.raises(EngineUnavailable, match="condor_q is not on the PATH"):
            good.test_connection()
    finally:
        ssh_server.run_as_user("mv", "standin/bin/condor_q.off", "standin/bin/condor_q")
