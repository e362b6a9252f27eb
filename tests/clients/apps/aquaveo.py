"""The shapes of Aquaveo's atcore / workflows (C5, C6), tRIBS (C7) and modflow (C8) apps:
CONDORWORKFLOW jobs in a workspace the app chooses, nodes built with
``attributes=dict(...)`` and ``set_attribute``, read back with ``get_attribute`` and split,
``add_parent``, ``children_nodes.select_subclasses()``, ``remote_input_files`` extended in
place, delete for cleanup, ``get_subclass``, the global ``get_scheduler``. Written from the
reference file's description of those apps."""

import os

from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting
from tethys_compute.models import CondorWorkflowJobNode, TethysJob
from tethys_compute.scheduler_manager import get_scheduler

NODE_SCRIPT = """#!/bin/sh
echo "$@" > "args_$1.txt"
for f in $(echo "$TRANSFERRED" | tr ',' ' '); do :; done
exit 0
"""


class Atcore(TethysAppBase):
    name = "ATCore Workflows"
    package = "atcore_app"

    def scheduler_settings(self):
        return (SchedulerSetting(name="remote_cluster", description="HTCondor pool",
                                 engine=SchedulerSetting.HTCONDOR, required=False),)


class Tribs(TethysAppBase):
    name = "tRIBS"
    package = "tribs"

    def scheduler_settings(self):
        return (SchedulerSetting(name="tribs_scheduler", description="HTCondor pool",
                                 engine=SchedulerSetting.HTCONDOR, required=False),)


def write_node_script(directory, name="node.sh"):
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(NODE_SCRIPT)
    os.chmod(path, 0o755)
    return name


# --- atcore / workflows (C5, C6) -----------------------------------------------------------------
def run_resource_workflow(user, resource_id, step_workspace, **workflow_kwargs):
    """A step of a resource workflow: the job runs in ``step_workspace`` (the app's own
    choice), three nodes prepare -> run -> post."""
    job_manager = Atcore.get_job_manager()
    scheduler = Atcore.get_scheduler("remote_cluster")
    os.makedirs(step_workspace, exist_ok=True)
    workflow = job_manager.create_job(
        name=f"Run {resource_id}", user=user, job_type="CONDORWORKFLOW",
        workspace=step_workspace, scheduler=scheduler, max_jobs={"model": 1},
        description="resource workflow step",
        extended_properties={"resource_id": resource_id, "step": "run"},
        **workflow_kwargs,
    )
    workflow.save()
    script = write_node_script(step_workspace)
    prepare = CondorWorkflowJobNode(
        name="prepare inputs", workflow=workflow, condorpy_template_name="vanilla_base",
        remote_input_files=[script],
        attributes=dict(executable=script, arguments=["prepare", resource_id, "base case"],
                        transfer_input_files=["../params.json", "mesh file.h5"],
                        request_cpus=1, getenv=True),
    )
    prepare.save()
    run = CondorWorkflowJobNode(
        name="run model", workflow=workflow, condorpy_template_name="vanilla_base",
        remote_input_files=[script], category="model",
        attributes=dict(executable=script, request_memory=1024),
    )
    run.set_attribute("arguments", ("run", resource_id, 3))
    run.set_attribute("transfer_output_files", ["out.h5", "summary.json"])
    files = run.remote_input_files
    files.extend(["params.json"])
    run.remote_input_files = files
    run.save()
    run.add_parent(prepare)
    post = CondorWorkflowJobNode(name="post", workflow=workflow,
                                 condorpy_template_name="vanilla_base",
                                 remote_input_files=[script], post_script="post_done.sh",
                                 attributes=dict(executable=script, arguments="post x"))
    with open(os.path.join(step_workspace, "post_done.sh"), "w") as handle:
        handle.write("#!/bin/sh\ntouch post_script_ran\n")
    os.chmod(os.path.join(step_workspace, "post_done.sh"), 0o755)
    post.save()
    post.add_parent(run)
    workflow.extended_properties["nodes"] = 3
    workflow.save()
    return workflow


def describe_run_node(workflow):
    """How atcore reads node attributes back: strings, split."""
    prepare = workflow.node_set.select_subclasses().get(name="prepare inputs")
    run = prepare.children_nodes.select_subclasses()[0]
    return {
        "children": prepare.children_nodes.count(),
        "run_type": type(run).__name__,
        "inputs": [f.strip() for f in prepare.get_attribute("transfer_input_files").split(",")],
        "args": run.get_attribute("arguments").split(),
        "outputs": run.get_attribute("transfer_output_files").split(", "),
        "cpus": prepare._attributes["request_cpus"],
        "getenv": prepare.get_attribute("getenv"),
        "remote_input_files": run.remote_input_files,
    }


# --- tRIBS (C7) ------------------------------------------------------------------------------------
def delete_resource_jobs(resource_id):
    """tRIBS deletes a resource's jobs with this filter. It never matches in Tethys 4
    (F9): a JSON string is not contained in an object; the app swallows the error."""
    job_manager = Tribs.get_job_manager()
    try:
        jobs = job_manager.list_jobs(filters={"extended_properties__contains": resource_id})
        return jobs.delete()[0]
    except Exception:  # noqa: BLE001 - as the app
        return None


def delete_resource_jobs_working(resource_id):
    """The working alternative given in docs/porting.rst."""
    jobs = Tribs.get_job_manager().list_jobs(
        filters={"extended_properties__resource_id": resource_id})
    return jobs.delete()[0]


# --- modflow (C8) -----------------------------------------------------------------------------------
def modflow_job_status(job_id):
    job = Atcore.get_job_manager().get_job(job_id)
    if job is None:
        return None
    return {"status": job.status, "remote_id": job.remote_id, "workspace": job.workspace,
            "id": job.id}


def modflow_stop(job_id):
    job = TethysJob.objects.get_subclass(id=job_id)
    job.stop()
    return job


def modflow_scheduler(name):
    return get_scheduler(name)
