"""Launching the app's jobs, as a Tethys app's controllers would (used by the views and
by the headless demo)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import dask

# Tethys: from tethys_sdk.jobs import ... / the job manager from App.get_job_manager()
from tethys_compute.exceptions import TethysAppSettingNotAssigned
from tethys_compute.local_commands import run_command

from . import analysis
from .app import NileFlow

REPO_ROOT = Path(__file__).resolve().parents[2]


def dask_scheduler():
    """The Dask scheduler assigned to the app (``dask_primary``)."""
    return NileFlow.get_scheduler("dask_primary")


def condor_scheduler():
    """The HTCondor scheduler assigned to ``condor_primary``, or ``None``."""
    try:
        return NileFlow.get_scheduler("condor_primary")
    except TethysAppSettingNotAssigned:
        return None


def submit_flood_frequency(user, distribution="gumbel_r", n_boot=1000, seed=0, tail="high",
                           return_periods=(10, 50, 100)):
    """One Dask job: fit ``distribution`` and bootstrap the T-year flows."""
    job_manager = NileFlow.get_job_manager()
    kind = "Flood" if tail == "high" else "Drought"
    job = job_manager.create_job(
        name=f"{kind} frequency ({distribution}) #{{id}}",
        user=user,
        job_type="DASK",
        scheduler=dask_scheduler(),
        description=f"{n_boot} bootstrap resamples, seed {seed}",
        extended_properties={"analysis": "frequency", "distribution": distribution,
                             "n_boot": n_boot, "seed": seed, "tail": tail,
                             "return_periods": list(return_periods)},
    )
    job.save()
    work = dask.delayed(analysis.fit_and_bootstrap)(
        distribution=distribution, return_periods=tuple(return_periods), n_boot=n_boot,
        seed=seed, tail=tail,
    )
    job.execute(work)
    return job


def submit_distribution_batch(user, n_boot=500, seed=0, distributions=analysis.DISTRIBUTIONS):
    """A batch of Dask jobs over parameter sets: one fit per candidate distribution."""
    return [submit_flood_frequency(user, distribution=name, n_boot=n_boot, seed=seed)
            for name in distributions]


def submit_change_point(user, report_url_for):
    """A Basic job tracking a local run: a separate Python process finds the change
    point and reports its status and progress back through the job's report URL.
    :func:`~tethys_compute.local_commands.run_command` starts it: its stdout and stderr
    are the job's logs, and its exit ends the job even if it could not report (a crash,
    a kill).

    :param report_url_for: ``job -> absolute report URL`` (from the request, or the
        demo's base URL).
    """
    job_manager = NileFlow.get_job_manager()
    job = job_manager.create_job(
        name="Change point (local run) #{id}",
        user=user,
        job_type="BASIC",
        description="Shift in the mean flow, found by a local process",
        extended_properties={"analysis": "change_point"},
    )
    job.process_results_function = "example.nile_flow.results.load_local_result"
    job.save()
    env = dict(os.environ, REPORT_URL=report_url_for(job), REPORT_TOKEN=job.status_report_token,
               PYTHONPATH=str(REPO_ROOT))
    run_command(job, [sys.executable, "-m", "example.nile_flow.local_run", job.workspace],
                env=env)
    return job


NODE_SCRIPT = """#!/bin/sh
# A node of the Nile Flow workflow: runs example.nile_flow.condor_node with this site's Python.
PYTHONPATH={root}
export PYTHONPATH
exec {python} -m example.nile_flow.condor_node "$@"
"""


def submit_bootstrap_workflow(user, distribution="gumbel_r", chunks=4, n_boot_each=100, seed=0):
    """A CondorWorkflow: ``chunks`` bootstrap nodes in parallel, then a combine node."""
    from tethys_compute.models import CondorWorkflowJobNode

    job_manager = NileFlow.get_job_manager()
    workflow = job_manager.create_job(
        name=f"Bootstrap workflow ({distribution}) #{{id}}",
        user=user,
        job_type="CONDORWORKFLOW",
        scheduler=condor_scheduler(),
        description=f"{chunks} x {n_boot_each} resamples on HTCondor, then combined",
        # Evicted, held for memory or for a failed transfer: retried twice, 30 s then 60 s
        # later (a memory retry asks for more; see docs/resilience.rst).
        max_attempts=3, retry_delay=30,
        extended_properties={"analysis": "workflow", "distribution": distribution,
                             "chunks": chunks, "n_boot_each": n_boot_each, "seed": seed},
    )
    workflow.process_results_function = "example.nile_flow.results.load_workflow_result"
    workflow.save()
    script = Path(workflow.workspace) / "node.sh"
    script.write_text(NODE_SCRIPT.format(root=REPO_ROOT, python=sys.executable))
    script.chmod(0o755)
    parts = [f"../boot_{i}.json" for i in range(chunks)]
    boots = []
    for i in range(chunks):
        arguments = f"bootstrap {distribution} {n_boot_each} {seed + i} {parts[i]}"
        node = CondorWorkflowJobNode(
            name=f"boot_{i}", workflow=workflow, condorpy_template_name="vanilla_base",
            attributes={"executable": "node.sh", "arguments": arguments},
        )
        node.save()
        boots.append(node)
    combine = CondorWorkflowJobNode(
        name="combine", workflow=workflow, condorpy_template_name="vanilla_base",
        attributes={"executable": "node.sh",
                    "arguments": f"combine {distribution} ../result.json {' '.join(parts)}"},
    )
    combine.save()
    for node in boots:
        combine.add_parent(node)
    workflow.execute()
    return workflow


def rerun_with_new_seed(job):
    """Custom jobs-table action: run the same frequency analysis with the next seed."""
    props = job.extended_properties or {}
    if props.get("analysis") != "frequency":
        return "Only frequency analyses can be re-run with a new seed."
    new = submit_flood_frequency(
        job.user, distribution=props["distribution"], n_boot=props["n_boot"],
        seed=int(props["seed"]) + 1, tail=props.get("tail", "high"),
        return_periods=props.get("return_periods", (10, 50, 100)),
    )
    return f'Started "{new.name}" with seed {int(props["seed"]) + 1}.'


def is_frequency_job(job, job_status):
    """Enabled test of the custom action: finished frequency analyses only."""
    return (job.extended_properties or {}).get("analysis") == "frequency" and job.is_terminal


def _finished_fits(user):
    """The user's frequency jobs of this app that are Complete with their results stored
    (``completion_time`` is set once result processing has finished)."""
    from tethys_compute.models import DaskJob

    return DaskJob.objects.filter(label=NileFlow.package, user=user, _status="COM",
                                  completion_time__isnull=False)


def comparison_digest(user):
    """A short text that changes whenever :func:`comparison` can (a fit finishing, or a
    finished one deleted or resubmitted): one aggregate query, no result read."""
    from django.db.models import Count, Max, Sum

    totals = _finished_fits(user).aggregate(n=Count("pk"), ids=Sum("pk"), last=Max("pk"))
    return f"{totals['n']}-{totals['ids'] or 0}-{totals['last'] or 0}"


def comparison(user):
    """The latest finished high-tail fit of each distribution, ranked by AIC, with the
    numbers as the page shows them (:mod:`.formatting`)."""
    from .formatting import whole

    latest = {}
    for job in _finished_fits(user).order_by("-id"):
        result = job.result or {}
        name = result.get("distribution")
        if result.get("tail") == "high" and name and name not in latest and "100" in result.get(
                "return_levels", {}):
            latest[name] = {"distribution": name, "aic": result["aic"], "job_id": job.pk,
                            "level": result["return_levels"]["100"],
                            "ci": result["ci95"]["100"]}
    rows = sorted(latest.values(), key=lambda row: row["aic"])
    for row in rows:
        row["delta_aic"] = f"{row['aic'] - rows[0]['aic']:.1f}"
        row["aic_text"] = whole(row["aic"])
        row["level_text"] = whole(row["level"])
        row["ci_text"] = f"{whole(row['ci'][0])} – {whole(row['ci'][1])}"
    return rows


def result_of(job):
    """The stored result of a job of this app, or ``None``."""
    if hasattr(job, "result") and job.result is not None:
        return job.result
    return (job.extended_properties or {}).get("result")


def dumps(value):
    return json.dumps(value, indent=2, sort_keys=True)
