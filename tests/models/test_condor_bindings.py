"""CondorJob and CondorWorkflow through the htcondor2 engine (a web server that is itself
an HTCondor submit node), with the stand-in's Schedd at the bindings boundary."""

import pytest

from tests.htcondor_standin import bindings
from tests.htcondor_standin.scenarios import (
    condor_job,
    condor_workflow,
    fast,
    node_statuses,
    read_logs,
    wait_status,
)
from tethys_compute.models import CondorJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bindings(settings, standin, monkeypatch):
    monkeypatch.setenv("HTCONDOR_STANDIN_STATE", str(standin.state))
    fast(settings, CONDOR_LOCAL_TRANSPORT="htcondor2",
         CONDOR_SCHEDD_FACTORY="tests.htcondor_standin.bindings.StandinSchedd")
    bindings.CALLS.clear()


def test_job_through_the_bindings(user, standin, tmp_path):
    # The job runs until the test opens its gate: a 0.3 s job ended before it was paused
    # on a loaded machine.
    gate = tmp_path / "gate"
    script = f"#!/bin/sh\necho \"out $1 $(pwd)\"\nwhile [ ! -e {gate} ]; do sleep 0.05; done\n"
    job = condor_job(user, "bound job", arguments="b", script=script)
    job.execute()
    assert job.cluster_id == 1
    assert [name for name, _ in bindings.CALLS] == ["submit"]
    wait_status(job, "Running")
    job.pause()
    assert job.cached_status == "Paused"
    job.resume()
    gate.touch()
    wait_status(job, "Complete")
    assert read_logs(job)["output"].startswith("out b ")
    assert standin.calls() == []  # no command-line tool was run
    failing = condor_job(user, "bound failure", arguments="f 0.1 4")
    failing.execute()
    wait_status(failing, "Error")
    assert "exited with code 4" in failing.status_message
    bindings.CALLS.clear()
    CondorJob.bulk_update_status([CondorJob.objects.get(pk=failing.pk)])
    assert bindings.CALLS == []  # finished jobs are not asked about again


def test_workflow_through_the_bindings(user, standin):
    workflow = condor_workflow(user, "bound flow", {"A": {}, "B": {"parents": ["A"]}})
    workflow.execute()
    wait_status(workflow, "Complete")
    assert node_statuses(workflow) == {"A": "Completed", "B": "Completed"}
    submitted = [args for name, args in bindings.CALLS if name == "submit"][0]
    assert "condor_dagman" in submitted["description"]
    assert f'+TethysJobId = "{workflow.pk}"' in submitted["description"]


def test_submit_refused_by_the_schedd_is_error(user):
    job = condor_job(user, attributes={"executable": "missing.sh"})
    job.execute()
    assert job.cached_status == "Error"
    assert "Executable file" in job.status_message and "does not exist" in job.status_message


def test_the_bindings_submit_carries_the_accounting(user, other_user, standin):
    import json

    job = condor_job(user, "accounted", arguments="a 0.1")
    job.execute()
    wait_status(job, "Complete")
    workflow = condor_workflow(other_user, "accounted wf", {"only": {}})
    workflow.execute()
    wait_status(workflow, "Complete")
    result = standin.run("condor_history", "-constraint", "TethysJobId =!= undefined", "-json")
    seen = sorted((ad["TethysJobId"], ad.get("DAGNodeName", ""), ad["AcctGroupUser"],
                   ad["TethysApp"]) for ad in json.loads(result.stdout))
    assert seen == [(str(job.pk), "", "alice", "test_app"),
                    (str(workflow.pk), "", "bob", "test_app"),
                    (str(workflow.pk), "only", "bob", "test_app")]
