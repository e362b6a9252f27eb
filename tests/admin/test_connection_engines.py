"""The "test connection" admin action and `tethys_compute_schedulers test` against real
engines: an HTCondor submit host behind a real sshd on 127.0.0.1 (with the HTCondor
stand-in), logging in by key and by password, and a Dask LocalCluster on 127.0.0.1."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.admin.test_schedulers import messages_of, run_action
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.htcondor_standin.scenarios import remote, remote_scheduler
from tethys_compute.engines.condor import ssh

pytestmark = pytest.mark.django_db

CONDOR_CHANGELIST = "/admin/tethys_compute/condorscheduler/"


@pytest.fixture
def _remote(settings, ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    yield
    ssh.close_all()


@pytest.mark.usefixtures("_remote")
@pytest.mark.parametrize("login", ["ed25519_pass", "password"])
def test_condor_connection_success(admin_client, ssh_server, login):
    scheduler = remote_scheduler(ssh_server, login)
    response = run_action(admin_client, CONDOR_CHANGELIST, scheduler)
    ((level, text),) = messages_of(response)
    assert level == "success", text
    assert ssh_server.user in text and "condor_q" in text
    out = StringIO()
    call_command("tethys_compute_schedulers", "test", scheduler.name, stdout=out)
    assert "condor_q" in out.getvalue()


@pytest.mark.usefixtures("_remote")
def test_condor_connection_failure_masks_the_secret(admin_client, ssh_server):
    scheduler = remote_scheduler(ssh_server, "password")
    scheduler.password = "definitely-wrong-pw"
    scheduler.save()
    response = run_action(admin_client, CONDOR_CHANGELIST, scheduler)
    ((level, text),) = messages_of(response)
    assert level == "error"
    assert "definitely-wrong-pw" not in response.content.decode()
    with pytest.raises(CommandError):
        call_command("tethys_compute_schedulers", "test", scheduler.name, stdout=StringIO(),
                     stderr=StringIO())


@pytest.mark.usefixtures("_remote")
def test_unknown_host_key_is_refused_by_default(admin_client, ssh_server, settings, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "CONDOR_SSH_KNOWN_HOSTS": str(empty)}
    scheduler = remote_scheduler(ssh_server, "rsa")
    response = run_action(admin_client, CONDOR_CHANGELIST, scheduler)
    ((level, text),) = messages_of(response)
    assert level == "error" and "host key" in text.lower()


DASK_CHANGELIST = "/admin/tethys_compute/daskscheduler/"


def test_dask_connection_lists_workers(admin_client, dask_cluster):
    from tethys_compute.models import DaskScheduler

    scheduler = DaskScheduler.objects.create(name="local", host=dask_cluster.scheduler_address,
                                             timeout=5)
    response = run_action(admin_client, DASK_CHANGELIST, scheduler)
    ((level, text),) = messages_of(response)
    assert level == "success", text
    assert "worker" in text.lower()


def test_dask_connection_to_nothing_fails_within_the_timeout(admin_client):
    import socket
    import time

    from tethys_compute.models import DaskScheduler

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scheduler = DaskScheduler.objects.create(name="gone", host=f"tcp://127.0.0.1:{port}",
                                             timeout=2)
    started = time.monotonic()
    response = run_action(admin_client, DASK_CHANGELIST, scheduler)
    ((level, text),) = messages_of(response)
    assert level == "error" and f"127.0.0.1:{port}" in text
    assert time.monotonic() - started < 15
