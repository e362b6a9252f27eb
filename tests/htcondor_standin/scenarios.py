"""Helpers for the Condor model tests: jobs and workflows with small shell scripts, local
or on the SSH test server, and waiting for statuses."""

from __future__ import annotations

import os
import time

from tethys_compute.job_manager import JobManager
from tethys_compute.models import CondorScheduler, CondorWorkflowJobNode

#: A job: prints its arguments and where it runs, writes a result file, sleeps $2, exits $3.
JOB_SCRIPT = """#!/bin/sh
echo "out $1 $(pwd)"
echo "err $1" >&2
echo "result $1" > result_$1.txt
sleep ${2:-0.1}
exit ${3:-0}
"""

def gated_job_script(gate):
    """:data:`JOB_SCRIPT`, except that the job runs until the file ``gate`` (an absolute
    path) exists instead of sleeping: the test sees it run however slowly statuses are read
    on a loaded machine, and ends it by creating the file."""
    script = JOB_SCRIPT.replace("sleep ${2:-0.1}", f"while [ ! -e '{gate}' ]; do sleep 0.05; done")
    assert script != JOB_SCRIPT
    return script


#: Fails the first time it runs in a directory, then succeeds (for RETRY).
FLAKY_SCRIPT = """#!/bin/sh
if [ -e tried_$1 ]; then echo "second try $1"; exit 0; fi
touch tried_$1
echo "first try $1 fails"
exit 1
"""


def job_manager():
    from tests.testapp.app import TestApp

    return JobManager(TestApp())


def fast(settings, **extra):
    """Refresh as often as asked (the status interval is a millisecond)."""
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 0.001, **extra}


def remote(settings, server, **extra):
    """Settings for the SSH test server. The SSH timeout is the default's 30 s: a login
    (sshd forks and re-executes itself per connection) took over 5 s on a loaded machine,
    and a timed-out host is then refused at once for ``ENGINE_FAILURE_MEMORY``. Tests of
    an unreachable host see a dropped server refuse at once, without waiting for it."""
    fast(settings, CONDOR_SSH_KNOWN_HOSTS=str(server.known_hosts), CONDOR_SSH_TIMEOUT=30,
         CONDOR_COMMAND_TIMEOUT=60, **extra)


def remote_scheduler(server, login="ed25519_pass", name="remote pool"):
    values = dict(name=name, host=server.host, port=server.port, username=server.user)
    if login == "password":
        values["password"] = server.password
    else:
        path, passphrase = server.keys[login]
        values.update(private_key_path=str(path), private_key_pass=passphrase)
    return CondorScheduler.objects.create(**values)


def write_script(directory, name="run.sh", body=JOB_SCRIPT):
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(body)
    os.chmod(path, 0o755)
    return path


def condor_job(user, name="job", scheduler=None, arguments="a", num_jobs=1,
               template="vanilla_base", attributes=None, script=JOB_SCRIPT, **kwargs):
    """A saved CondorJob whose executable ``run.sh`` sits in its own directory."""
    values = {"executable": "run.sh", "arguments": arguments, **(attributes or {})}
    job = job_manager().create_job(
        name, user, job_type="CONDORJOB", condorpy_template_name=template, attributes=values,
        num_jobs=num_jobs, scheduler=scheduler,
        remote_input_files=["run.sh"] if scheduler is not None else [], **kwargs)
    job.save()
    write_script(job.workspace, body=script)
    return job


def condor_workflow(user, name, nodes, scheduler=None, max_jobs=None, scripts=None):
    """A saved CondorWorkflow.

    :param nodes: ``{node name: {"parents": [...], "arguments": "...", node options...}}``.
    :param scripts: ``{file name: body}`` written into the workflow's directory (``run.sh``
        is always written).
    """
    workflow = job_manager().create_job(name, user, job_type="CONDORWORKFLOW", scheduler=scheduler)
    if max_jobs:
        workflow.max_jobs = max_jobs
    workflow.save()
    write_script(workflow.workspace)
    for file_name, body in (scripts or {}).items():
        write_script(workflow.workspace, file_name, body)
    made = {}
    for node_name, spec in nodes.items():
        spec = dict(spec)
        parents = spec.pop("parents", [])
        executable = spec.pop("executable", "run.sh")
        arguments = spec.pop("arguments", node_name.replace(" ", "_"))
        extra = spec.pop("attributes", {})
        node = CondorWorkflowJobNode(
            name=node_name, workflow=workflow, condorpy_template_name="vanilla_base",
            attributes={"executable": executable, "arguments": arguments, **extra},
            remote_input_files=[executable] if scheduler is not None else [], **spec)
        node.save()
        made[node_name] = node
        for parent in parents:
            node.add_parent(made[parent])
    return workflow


def wait_status(job, statuses, timeout=120, refresh=None):
    """Refresh ``job`` until its status is one of ``statuses`` (display names).

    The deadline is generous: on a loaded machine each refresh runs condor_q in a new process.
    """
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = refresh() if refresh else job.status
        status = job.cached_status if status is None or not isinstance(status, str) else status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in statuses:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job {job.pk} never reached {statuses}: {seen} ({job.status_message})")


def node_statuses(workflow):
    return dict(workflow.node_set.values_list("name", "cached_node_status"))


def read_logs(job):
    """``get_logs()`` with every lazy value read."""

    def resolve(value):
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value() if callable(value) else value

    return resolve(job.get_logs())
