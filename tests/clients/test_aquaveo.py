"""Aquaveo's apps (C5 atcore/workflows, C6, C7 tRIBS, C8 modflow) on the HTCondor
stand-in: F2 (``"CONDORWORKFLOW"``), F3 (``workspace=`` override and model kwargs), F4
(save, then nodes, then links), F5 (display names), F7/F8 (ORM and ``list_jobs``), F9
(tRIBS's filter), F10 (attributes as condorpy strings, split by the app), F11
(``remote_input_files`` extended in place), F12 (node graph), F13 (delete cleans the
chosen workspace, never a shared parent), F18 (both scheduler lookups), F22 (guardian's
anonymous user as owner), F23 (the deploy script's CLI verbs, run twice)."""

import os

import pytest
from django.core.management import call_command
from django.db import NotSupportedError, connection

from tests.clients.apps import aquaveo
from tests.htcondor_standin.scenarios import fast, wait_status
from tethys_compute.exceptions import TethysAppSettingNotAssigned
from tethys_compute.models import (
    CondorScheduler,
    CondorWorkflow,
    CondorWorkflowJobNode,
    SchedulerSetting,
    TethysJob,
)
from tethys_compute.workspaces import user_workspace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _pool(settings, standin):
    fast(settings)
    return standin


@pytest.fixture
def local_pool():
    """What C7's deploy script sets up: a scheduler linked to the app's setting."""
    call_command("tethys_compute_schedulers", "create-condor", "-n", "local_pool", "-e",
                 "localhost")
    call_command("tethys_compute_schedulers", "link", "condor:local_pool",
                 "atcore_app:ss_scheduler:remote_cluster")
    return CondorScheduler.objects.get(name="local_pool")


def step_dir(user, resource_id, step):
    """atcore's per-step workspace, inside the user's workspace (its choice of path)."""
    return str(user_workspace("atcore_app", user.get_username()) / resource_id / step)


def test_resource_workflow_runs_in_the_chosen_workspace(user, local_pool):
    workspace = step_dir(user, "res-1", "step-1")
    workflow = aquaveo.run_resource_workflow(user, "res-1", workspace)
    assert workflow.workspace == workspace and workflow.max_jobs == {"model": 1}
    assert workflow.extended_properties == {"resource_id": "res-1", "step": "run", "nodes": 3}
    assert workflow.description == "resource workflow step"
    assert workflow.scheduler == local_pool
    # The default user workspace exists too, as in Tethys (a side effect of create_job).
    assert user_workspace("atcore_app", user.get_username()).is_dir()
    # The nodes wait on a gate until the test has seen the workflow under way (on a loaded
    # machine the whole DAG had ended before its first status read).
    gate = os.path.join(workspace, "gate")
    with open(os.path.join(workspace, "node.sh"), "w") as handle:
        handle.write(aquaveo.NODE_SCRIPT.replace(
            "#!/bin/sh\n", f"#!/bin/sh\nwhile [ ! -e '{gate}' ]; do sleep 0.05; done\n", 1))
    workflow.execute()
    seen = wait_status(workflow, ("Submitted", "Running", "Various"))  # display names, as C8 compares
    open(gate, "w").close()
    seen += wait_status(workflow, ("Complete", "Error"))
    assert workflow.cached_status == "Complete", (seen, workflow.status_message)
    assert {"Submitted", "Running", "Various"} & set(seen)
    assert TethysJob.objects.get(pk=workflow.pk)._status == "COM"
    assert os.path.exists(os.path.join(workspace, "prepare_inputs", "args_prepare.txt"))
    with open(os.path.join(workspace, "run_model", "args_run.txt")) as handle:
        assert handle.read().split() == ["run", "res-1", "3"]
    assert os.path.exists(os.path.join(workspace, "post_script_ran"))  # node post_script=


def test_node_attributes_read_back_as_the_app_parses_them(user, local_pool):
    workflow = aquaveo.run_resource_workflow(user, "res-2", step_dir(user, "res-2", "s"))
    fresh = TethysJob.objects.get_subclass(id=workflow.pk)
    assert type(fresh) is CondorWorkflow
    assert aquaveo.describe_run_node(fresh) == {
        "children": 1,
        "run_type": "CondorWorkflowJobNode",
        "inputs": ["../params.json", "mesh file.h5"],
        "args": ["run", "res-2", "3"],
        "outputs": ["out.h5", "summary.json"],
        "cpus": 1,
        "getenv": "true",
        "remote_input_files": ["node.sh", "params.json"],
    }
    prepare = CondorWorkflowJobNode.objects.get(workflow=fresh, name="prepare inputs")
    assert prepare._attributes["arguments"] == "prepare res-2 'base case'"
    assert prepare._attributes["job_name"] == "prepare_inputs"


def test_delete_cleans_the_step_workspace_but_not_the_shared_parent(user, local_pool):
    first = aquaveo.run_resource_workflow(user, "res-3", step_dir(user, "res-3", "one"))
    second = aquaveo.run_resource_workflow(user, "res-3", step_dir(user, "res-3", "two"))
    first.execute()
    wait_status(first, ("Complete", "Error"))
    cwd = os.getcwd()
    first.delete()
    assert os.getcwd() == cwd  # no chdir left behind (C5 had to chdir back under Tethys)
    assert not os.path.exists(first.workspace)
    assert os.path.isdir(second.workspace)  # the resource's shared parent stays
    # A rerun of the step into the same path starts clean (C5 relies on it).
    again = aquaveo.run_resource_workflow(user, "res-3", step_dir(user, "res-3", "one"))
    assert sorted(os.listdir(again.workspace)) == ["node.sh", "post_done.sh"]


def test_tribs_resource_filter_is_faithful_and_the_alternative_works(user, local_pool):
    aquaveo.Tribs.sync_scheduler_settings()
    manager = aquaveo.Tribs.get_job_manager()
    workspaces = {}
    for resource in ("abc-123", "def-456"):
        job = manager.create_job(f"tribs {resource}", user, job_type="CONDORWORKFLOW",
                                 extended_properties={"resource_id": resource})
        job.save()
        workspaces[resource] = job.workspace
    # Tethys 4: never matches (PostgreSQL) or NotSupportedError (SQLite); swallowed.
    assert aquaveo.delete_resource_jobs("abc-123") in (None, 0)
    if connection.vendor == "sqlite":
        with pytest.raises(NotSupportedError):
            list(manager.list_jobs(filters={"extended_properties__contains": "abc-123"}))
    else:  # jsonb: '{"resource_id": "abc-123"}' @> '"abc-123"' is false
        assert not manager.list_jobs(
            filters={"extended_properties__contains": "abc-123"}).exists()
        assert manager.list_jobs(
            filters={"extended_properties__contains": {"resource_id": "abc-123"}}).count() == 1
    assert manager.list_jobs().count() == 2
    assert aquaveo.delete_resource_jobs_working("abc-123") >= 1
    # A bulk delete cleans up each job as job.delete() does.
    assert not os.path.exists(workspaces["abc-123"]) and os.path.isdir(workspaces["def-456"])
    assert [job.extended_properties["resource_id"] for job in manager.list_jobs()] == [
        "def-456"]


def test_modflow_reads_status_and_stops_by_get_subclass(user, local_pool):
    workflow = aquaveo.run_resource_workflow(user, "res-4", step_dir(user, "res-4", "s"))
    assert aquaveo.modflow_job_status(424242) is None
    assert aquaveo.modflow_job_status(workflow.pk)["status"] == "Pending"
    workflow.execute()
    info = aquaveo.modflow_job_status(workflow.pk)
    assert info["status"] in ("Submitted", "Running", "Various", "Complete")
    assert info["remote_id"] is None and info["workspace"] == workflow.workspace
    stopped = aquaveo.modflow_stop(workflow.pk)
    wait_status(stopped, ("Aborted", "Complete"))
    assert aquaveo.modflow_scheduler("local_pool") == local_pool
    assert aquaveo.modflow_scheduler("no such pool") is None


def test_anonymous_owner_from_guardian_style_user(django_user_model, local_pool):
    # django-guardian's get_anonymous_user() returns a saved User named AnonymousUser.
    anonymous = django_user_model.objects.create(username="AnonymousUser")
    workflow = aquaveo.run_resource_workflow(anonymous, "res-5",
                                             step_dir(anonymous, "res-5", "s"))
    assert workflow.user == anonymous and workflow.pk is not None


def test_app_setting_lookup_raises_when_unassigned_and_cli_verbs_rerun(capsys):
    aquaveo.Atcore.sync_scheduler_settings()
    with pytest.raises(TethysAppSettingNotAssigned):
        aquaveo.Atcore.get_scheduler("remote_cluster")
    for _ in range(2):  # C7's setup script, on a fresh database and again
        call_command("tethys_compute_schedulers", "remove", "-f", "tribs_pool")
        call_command("tethys_compute_schedulers", "create-condor", "-n", "tribs_pool", "-e",
                     "submit.example.org", "-u", "condor", "-f", "/keys/id_ed25519",
                     "-k", "secret")
        call_command("tethys_compute_schedulers", "link", "condor:tribs_pool",
                     "tribs:ss_scheduler:tribs_scheduler")
        assigned = SchedulerSetting.objects.get(app_package="tribs", name="tribs_scheduler")
        assert assigned.scheduler_service.name == "tribs_pool"
    assert aquaveo.Tribs.get_scheduler("tribs_scheduler").name == "tribs_pool"
