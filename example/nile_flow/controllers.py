"""Controllers of the Nile Flow app, written as a Tethys app author writes them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

# Tethys: from tethys_sdk.gizmos import JobsTable, CustomJobAction
from tethys_compute.exceptions import TethysAppSettingNotAssigned
from tethys_compute.gizmos import CustomJobAction, JobsTable

from . import analysis, jobs, results_page
from .app import NileFlow

#: Milliseconds between two live updates of the jobs table and of the comparison.
REFRESH_MS = 2000


def _table(request):
    job_manager = NileFlow.get_job_manager()
    return JobsTable(
        jobs=job_manager.list_jobs(request.user, order_by="-id"),
        column_fields=("id", "name", "description", "creation_time", "run_time"),
        show_status=True,
        show_actions=True,
        results_url="nile_flow:result",
        actions=[
            "run", "resubmit", "|", "logs", "results", "|", "terminate", "delete", "|",
            CustomJobAction(
                "Re-run with next seed",
                jobs.rerun_with_new_seed,
                enabled_callback=jobs.is_frequency_job,
                show_overlay=True,
            ),
        ],
        hover=True,
        sort=True,
        reverse_sort=True,
        refresh_interval=REFRESH_MS,
        show_detailed_status=True,
    )


@login_required
def home(request):
    try:
        dask_ready = jobs.dask_scheduler() is not None
    except TethysAppSettingNotAssigned:
        dask_ready = False
    context = {
        "app": NileFlow,
        "jobs_table": _table(request),
        "comparison": jobs.comparison(request.user),
        "comparison_digest": jobs.comparison_digest(request.user),
        "refresh_interval": REFRESH_MS,
        "distributions": analysis.DISTRIBUTIONS,
        "dask_ready": dask_ready,
        "condor_ready": jobs.condor_scheduler() is not None,
    }
    return render(request, "nile_flow/home.html", context)


class BadInput(ValueError):
    pass


def _int(request, name, label, default, low, high):
    """``request.POST[name]`` as an int in ``[low, high]``; BadInput names the problem."""
    raw = request.POST.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{label} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise BadInput(f"{label} must be between {low} and {high}, not {value}.")
    return value


@login_required
@require_POST
def run_frequency(request):
    distribution = request.POST.get("distribution", "gumbel_r")
    tail = request.POST.get("tail", "high")
    try:
        if distribution not in analysis.DISTRIBUTIONS:
            raise BadInput(f"Unknown distribution {distribution!r}.")
        if tail not in ("high", "low"):
            raise BadInput(f'Tail must be "high" or "low", not {tail!r}.')
        n_boot = _int(request, "n_boot", "Resamples", 1000, 50, 20000)
        seed = _int(request, "seed", "Seed", 0, 0, 2**32 - 1)
    except BadInput as problem:
        messages.error(request, str(problem))
        return redirect("nile_flow:home")
    job = jobs.submit_flood_frequency(
        request.user, distribution=distribution, tail=tail, n_boot=n_boot, seed=seed
    )
    messages.success(request, f'Submitted "{job.name}".')
    return redirect("nile_flow:home")


@login_required
@require_POST
def run_batch(request):
    try:
        n_boot = _int(request, "n_boot", "Resamples", 300, 50, 5000)
    except BadInput as problem:
        messages.error(request, str(problem))
        return redirect("nile_flow:home")
    submitted = jobs.submit_distribution_batch(request.user, n_boot=n_boot)
    messages.success(request, f"Submitted {len(submitted)} jobs, one per distribution.")
    return redirect("nile_flow:home")


@login_required
@require_POST
def run_workflow(request):
    distribution = request.POST.get("distribution", "gumbel_r")
    try:
        if jobs.condor_scheduler() is None:
            raise BadInput("No HTCondor scheduler is assigned to condor_primary.")
        if distribution not in analysis.DISTRIBUTIONS:
            raise BadInput(f"Unknown distribution {distribution!r}.")
        chunks = _int(request, "chunks", "Nodes", 4, 1, 50)
        n_boot_each = _int(request, "n_boot_each", "Resamples per node", 100, 10, 5000)
    except BadInput as problem:
        messages.error(request, str(problem))
        return redirect("nile_flow:home")
    workflow = jobs.submit_bootstrap_workflow(
        request.user, distribution=distribution, chunks=chunks, n_boot_each=n_boot_each
    )
    messages.success(request, f'Submitted "{workflow.name}" to HTCondor.')
    return redirect("nile_flow:home")


@login_required
@require_POST
def run_change_point(request):
    job_manager = NileFlow.get_job_manager()
    job = jobs.submit_change_point(
        request.user, lambda job: job_manager.get_job_status_report_url(request, job.pk)
    )
    messages.success(request, f'Started "{job.name}" as a local process.')
    return redirect("nile_flow:home")


@login_required
def comparison(request):
    """The distributions comparison for the home page's live update (polled every
    ``REFRESH_MS``): ``{"changed": false, "digest": d}`` while the client's ``?digest=``
    is current (one aggregate query), else ``{"changed": true, "digest": d, "html": ...}``
    with the comparison's new markup."""
    digest = jobs.comparison_digest(request.user)
    if request.GET.get("digest") == digest:
        return JsonResponse({"changed": False, "digest": digest})
    html = render_to_string("nile_flow/_comparison.html",
                            {"comparison": jobs.comparison(request.user)}, request=request)
    return JsonResponse({"changed": True, "digest": digest, "html": html})


@login_required
def result(request, job_id):
    job = NileFlow.get_job_manager().get_job(job_id, user=request.user)
    if job is None:
        raise Http404("No such job.")
    value = jobs.result_of(job)
    return render(request, "nile_flow/result.html", {
        "job": job, "result": value, "raw": jobs.dumps(value) if value else "",
        **results_page.context(job, value),
    })
