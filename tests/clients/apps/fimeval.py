"""The shape of the FIMeval app (C9): ``job_type=DaskJob`` (the class), the app setting
lookup relied on to raise when unassigned, ``scheduler.host`` (with its ``tcp://``)
handed straight to ``distributed.Client``, ``DaskJob.objects.get``/``latest``,
``_status`` codes compared, ``extended_properties`` assigned whole; its Dask scheduler
runs without any Tethys plugin."""

from distributed import Client

from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting
from tethys_compute.exceptions import TethysAppSettingNotAssigned
from tethys_compute.models import DaskJob


class FimEval(TethysAppBase):
    name = "FIM Evaluation"
    package = "fimeval"

    def scheduler_settings(self):
        return (SchedulerSetting(name="dask_scheduler", description="Dask scheduler",
                                 engine=SchedulerSetting.DASK, required=False),)


def evaluate(site, depths):
    return {"site": site, "max_depth": max(depths)}


def submit_evaluation(user, site, depths):
    try:
        scheduler = FimEval.get_scheduler("dask_scheduler")
    except TethysAppSettingNotAssigned:
        return None  # the app shows "no scheduler configured"
    job = FimEval.get_job_manager().create_job(name=f"FIM {site}", user=user,
                                               job_type=DaskJob, scheduler=scheduler)
    job.extended_properties = {"site": site, "n": len(depths)}
    job.save()
    with Client(job.scheduler.host) as client:  # the app's own client, closed at once
        future = client.submit(evaluate, site, depths)
        job.execute(future)
    return job


def evaluation_state(job_id):
    try:
        job = DaskJob.objects.get(id=job_id)
    except DaskJob.DoesNotExist:
        return "missing"
    if job._status == "COM":
        return "done"
    if job._status in ("ERR", "ABT"):
        return "failed"
    if job._status in ("SUB", "RUN", "VAR", "PEN"):
        return "running"
    return job._status


def latest_evaluation():
    job = DaskJob.objects.latest("id")
    return job.name, job.key, job.scheduler.host
