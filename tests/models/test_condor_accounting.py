"""Every HTCondor submit of a job carries who and what it is for: ``+TethysJobId``,
``+TethysApp``, ``+TethysUser`` and ``accounting_group_user`` (the portal user,
sanitised), plus ``accounting_group`` when the scheduler names one; so HTCondor's fair
share and ``condor_q -constraint`` tell portal users and jobs apart (issue 15, item 5)."""

import json
import os

import pytest

from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    fast,
    remote,
    remote_scheduler,
    wait_status,
)
from tethys_compute.engines.condor import ssh
from tethys_compute.engines.condor.accounting import accounting_user, submit_commands
from tethys_compute.models import CondorScheduler

pytestmark = pytest.mark.django_db

GATED = "#!/bin/sh\nwhile [ ! -e gate ]; do sleep 0.05; done\n"

FIELDS = ("ClusterId", "TethysJobId", "TethysApp", "TethysUser", "AcctGroupUser",
          "AccountingGroup", "AcctGroup", "DAGNodeName")


def _ads(run, tool, constraint):
    result = run(tool, "-constraint", constraint, "-json", "-attributes", ",".join(FIELDS))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else []


@pytest.mark.parametrize("name, expected", [
    ("alice", "alice"),
    ("alice.smith@example.org", "alice_smith_example_org"),
    ("Zoë Ünal", "Zo_nal"),
    ("a b\tc\"d'e", "a_b_c_d_e"),
    ("", "user_7"),
    ("...", "user_7"),
])
def test_the_portal_user_is_sanitised_to_a_submitter_name(name, expected):
    assert accounting_user(name, 7) == expected


def test_commands_quote_free_text_and_take_the_group(user):
    user.username = 'x"y\\z'
    job = type("Job", (), {"pk": 12, "label": 'my "app"', "user": user,
                           "scheduler": None})()
    commands = submit_commands(job, group="group_physics")
    assert commands == {
        "+TethysJobId": '"12"',
        "+TethysApp": '"my \\"app\\""',
        "+TethysUser": '"x\\"y\\\\z"',
        "accounting_group_user": "x_y_z",
        "accounting_group": "group_physics",
    }


class TestLocal:
    @pytest.fixture(autouse=True)
    def _fast(self, settings, standin):
        fast(settings)

    def test_a_job_carries_its_accounting_in_queue_and_history(self, user, other_user, standin):
        # The jobs stay in the queue until the test opens the gate in their directory.
        job = condor_job(user, "alice's", script=GATED)
        other = condor_job(other_user, "bob's", script=GATED)
        job.execute()
        other.execute()
        (ad,) = _ads(standin.run, "condor_q", f"TethysJobId == \"{job.pk}\"")
        assert ad["ClusterId"] == job.cluster_id and ad["TethysApp"] == "test_app"
        assert ad["TethysUser"] == "alice" and ad["AcctGroupUser"] == "alice"
        assert ad["AccountingGroup"] == "alice" and "AcctGroup" not in ad
        (ad,) = _ads(standin.run, "condor_q", 'AcctGroupUser == "bob"')
        assert ad["TethysJobId"] == str(other.pk)
        open(os.path.join(job.initial_dir, "gate"), "w").close()
        wait_status(job, "Complete")
        (ad,) = _ads(standin.run, "condor_history", f"TethysJobId == \"{job.pk}\"")
        assert ad["AcctGroupUser"] == "alice"
        # Nothing of it is stored in the job's own attributes.
        job.refresh_from_db()
        assert not any("Tethys" in key or "accounting" in key for key in job.attributes)

    def test_the_schedulers_accounting_group(self, user, standin):
        scheduler = CondorScheduler.objects.create(name="local", host="localhost",
                                                   accounting_group="group_hydro")
        job = condor_job(user, scheduler=None, script=GATED)
        job.scheduler = scheduler
        job.save()
        job.execute()
        (ad,) = _ads(standin.run, "condor_q", f"TethysJobId == \"{job.pk}\"")
        assert ad["AcctGroup"] == "group_hydro"
        assert ad["AccountingGroup"] == "group_hydro.alice"

    def test_the_setting_gives_the_group_of_jobs_without_a_scheduler(self, user, settings, standin):
        fast(settings, CONDOR_ACCOUNTING_GROUP="group_portal")
        job = condor_job(user, script=GATED)
        job.execute()
        (ad,) = _ads(standin.run, "condor_q", f"TethysJobId == \"{job.pk}\"")
        assert ad["AccountingGroup"] == "group_portal.alice"

    def test_a_workflow_and_each_of_its_nodes_carry_it(self, user, standin):
        workflow = condor_workflow(user, "wf", {"first": {}, "second": {"parents": ["first"]}})
        workflow.execute()
        wait_status(workflow, "Complete")
        ads = _ads(standin.run, "condor_history", f"TethysJobId == \"{workflow.pk}\"")
        nodes = sorted(ad.get("DAGNodeName", "<dagman>") for ad in ads)
        assert nodes == ["<dagman>", "first", "second"]
        assert all(ad["AcctGroupUser"] == "alice" and ad["TethysApp"] == "test_app"
                   and ad["TethysUser"] == "alice" for ad in ads)


class TestRemote:
    @pytest.fixture(autouse=True)
    def _remote(self, settings, ssh_server):
        remote(settings, ssh_server)
        ssh.close_all()
        yield
        ssh.close_all()

    def test_a_remote_job_and_workflow_carry_it(self, user, ssh_server):
        scheduler = remote_scheduler(ssh_server)
        scheduler.accounting_group = "group_remote"
        scheduler.save()
        job = condor_job(user, "remote", scheduler=scheduler, arguments="r 0.2")
        job.execute()
        workflow = condor_workflow(user, "rwf", {"only": {}}, scheduler=scheduler)
        workflow.execute()
        wait_status(job, "Complete")
        wait_status(workflow, "Complete")
        ads = _ads(ssh_server.run_as_user, "condor_history",
                   f"TethysJobId == \"{job.pk}\" || TethysJobId == \"{workflow.pk}\"")
        assert sorted((ad["TethysJobId"], ad.get("DAGNodeName", "")) for ad in ads) == sorted(
            [(str(job.pk), ""), (str(workflow.pk), ""), (str(workflow.pk), "only")])
        assert {ad["AccountingGroup"] for ad in ads} == {"group_remote.alice"}


def test_the_admin_sets_the_accounting_group(admin_client):
    response = admin_client.post("/admin/tethys_compute/condorscheduler/add/", {
        "name": "pool", "host": "localhost", "port": 22, "accounting_group": "group x"})
    assert response.status_code == 200 and "HTCondor refuses white space" in response.content.decode()
    response = admin_client.post("/admin/tethys_compute/condorscheduler/add/", {
        "name": "pool", "host": "localhost", "port": 22, "accounting_group": "group_x"})
    assert response.status_code == 302
    assert CondorScheduler.objects.get(name="pool").accounting_group == "group_x"
