"""The shape of BYU's gwdm app (C10): the job manager made at import, the global
scheduler lookup by scheduler name, a DASK job per interpolation."""

import dask

from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting
from tethys_compute.scheduler_manager import get_scheduler


class Gwdm(TethysAppBase):
    name = "Groundwater Data Mapper"
    package = "gwdm"

    def scheduler_settings(self):
        return (SchedulerSetting(name="primary_dask", description="Dask scheduler",
                                 engine=SchedulerSetting.DASK, required=False),)


def interpolate(region, values):
    return {"region": region, "mean": sum(values) / len(values)}


job_manager = Gwdm.get_job_manager()


def run_interpolation(user, region, values, scheduler_name="gwdm_dask"):
    scheduler = get_scheduler(scheduler_name)
    if scheduler is None:
        return None
    job = job_manager.create_job(name=f"interpolate-{region}", user=user, job_type="DASK",
                                 scheduler=scheduler, description="interpolation")
    job.save()
    job.execute(dask.delayed(interpolate)(region, values))
    return job


def list_jobs():
    return job_manager.list_jobs(order_by="-id", filters=None)
