"""The shape of the Tethys Dask tutorial app (C1/C2), ported by changing imports only:
its app class, its job functions and its controllers. Written from the reference file's
description of what the app calls; the controllers make their job manager at import."""

import dask

from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting


class DaskTutorial(TethysAppBase):
    name = "Dask Tutorial"
    package = "dask_tutorial"

    def scheduler_settings(self):
        return (SchedulerSetting(name="dask_primary", description="Scheduler for a Dask "
                                 "distributed cluster.", engine=SchedulerSetting.DASK,
                                 required=False),)


# --- job_functions.py -----------------------------------------------------------------------
def inc(x):
    return x + 1


def double(x):
    return x * 2


def add(x, y):
    return x + y


def sum_up(values):
    return sum(values)


def delayed_job():
    output = []
    for x in range(3):
        a = dask.delayed(inc)(x)
        b = dask.delayed(double)(x)
        output.append(dask.delayed(add)(a, b))
    return dask.delayed(sum_up)(output)


def distributed_job(client):
    output = []
    for x in range(3):
        a = client.submit(inc, x, pure=False)
        b = client.submit(double, x, pure=False)
        output.append(client.submit(add, a, b, pure=False))
    return client.submit(sum_up, output)


def convert_to_dollar_sign(result):
    return "$" + str(result)


# --- controllers.py (module level, as the tutorial) ---------------------------------------------
job_manager = DaskTutorial.get_job_manager()


def run_job(user, job_type):
    """The tutorial's run-job controller: the job is executed without being saved first."""
    scheduler = DaskTutorial.get_scheduler(name="dask_primary")
    if job_type == "delayed":
        dask_job = job_manager.create_job(job_type="DASK", name="dask_delayed", user=user,
                                          scheduler=scheduler)
        dask_job.process_results_function = convert_to_dollar_sign
        dask_job.execute(delayed_job())
    else:
        future = distributed_job(scheduler.client)
        dask_job = job_manager.create_job(job_type="DASK", name="dask_distributed",
                                          user=user, scheduler=scheduler)
        dask_job.process_results_function = convert_to_dollar_sign
        dask_job.execute(future)
    return dask_job


def jobs_table(user):
    return job_manager.list_jobs(order_by="-id", filters=None)


def result(job_id):
    job = job_manager.get_job(job_id=job_id)
    return job.name, job.result
