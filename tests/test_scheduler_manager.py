import pytest
from django.db import connection

from tethys_compute import scheduler_manager as sm
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

pytestmark = pytest.mark.django_db


def test_create_condor_scheduler_is_keyword_correct_and_saves():
    scheduler = sm.create_condor_scheduler("pool", "submit.example.org", username="hpc",
                                           password="s3cret", port=2222)
    assert scheduler.pk is None
    scheduler.save()
    row = CondorScheduler.objects.get(pk=scheduler.pk)
    assert (row.name, row.host, row.port, row.username, row.password) == (
        "pool", "submit.example.org", 2222, "hpc", "s3cret")


def test_create_condor_scheduler_defaults():
    scheduler = sm.create_condor_scheduler("pool", "submit")
    scheduler.save()
    assert scheduler.port == 22 and scheduler.username is None


def test_create_dask_scheduler_defaults_save():
    scheduler = sm.create_dask_scheduler("cluster", "tcp://127.0.0.1:8786")
    scheduler.save()
    row = DaskScheduler.objects.get(pk=scheduler.pk)
    assert (row.name, row.host, row.timeout, row.heartbeat_interval, row.dashboard) == (
        "cluster", "tcp://127.0.0.1:8786", 0, 0, None)


def test_create_scheduler_dispatch_and_errors():
    assert isinstance(sm.create_scheduler("a", "h", scheduler_type="DASK", timeout=5), DaskScheduler)
    assert isinstance(sm.create_scheduler("a", "h"), CondorScheduler)
    with pytest.raises(ValueError, match='"slurm" is not a valid scheduler_type'):
        sm.create_scheduler("a", "h", scheduler_type="slurm")
    with pytest.raises(ValueError, match="Invalid argument\\(s\\) for dask scheduler: username"):
        sm.create_scheduler("a", "h", scheduler_type="dask", username="x")


def test_list_and_get_schedulers_return_subclasses():
    sm.create_condor_scheduler("pool", "submit").save()
    sm.create_dask_scheduler("cluster", "tcp://h:1").save()
    assert sorted(type(s).__name__ for s in sm.list_schedulers()) == ["CondorScheduler", "DaskScheduler"]
    assert isinstance(sm.get_scheduler("cluster"), DaskScheduler)
    assert sm.get_scheduler("missing") is None
    assert str(sm.get_scheduler("pool")) == "pool"
    assert sm.get_scheduler("pool").engine == "htcondor"
    assert Scheduler.objects.get(name="pool").engine == ""


def test_secrets_are_encrypted_in_the_column():
    sm.create_condor_scheduler("pool", "submit", password="hunter2", private_key_pass="pp").save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT password, private_key_pass FROM tethys_compute_condorscheduler")
        password, passphrase = cursor.fetchone()
    assert "hunter2" not in password and password.startswith("fernet$")
    assert "pp" != passphrase and passphrase.startswith("fernet$")
    assert CondorScheduler.objects.get().password == "hunter2"
