"""A web process killed right after ``execute()`` returned (tethys_compute/engines/dask/
hold_plugin.py): the task and its hold reach the scheduler in one message, so a job is
either held and completes without the process that submitted it, or its task never
reached the scheduler and the monitor treats the run as lost (DESIGN section 3); never a
hung or corrupted job. Real processes, a real LocalCluster, SQLite and PostgreSQL."""

import subprocess
import sys

import pytest

from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tests.testapp.shared_db import test_db_env as db_env
from tethys_compute.engines.dask import clients, tasks
from tethys_compute.models import DaskJob, TethysJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Executes job 1 (its submission is let out of the process), then stalls the client's IO
# loop, so that nothing more leaves the process, executes job 2 and is killed (SIGKILL)
# as soon as execute() has returned: job 2's submission never left.
WEB = r"""
import os, signal, sys, threading, time
import django
django.setup()
from tests.engines.dask import work
from tethys_compute.engines.dask import clients
from tethys_compute.models import TethysJob

sent = TethysJob.objects.get_subclass(pk=int(sys.argv[1]))
sent.execute(work.inc, 41)
with clients.connection(sent.scheduler.host) as client:
    while client.scheduler_comm.buffer or client.scheduler_comm.comm is None:
        time.sleep(0.001)
    stalled = threading.Event()
    client.loop.add_callback(lambda: (stalled.set(), time.sleep(600)))
    assert stalled.wait(60)
lost = TethysJob.objects.get_subclass(pk=int(sys.argv[2]))
lost.execute(work.inc, 1)
print(sent.key, lost.key, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _state(job):
    with clients.connection(job.scheduler.host, timeout=10) as client:
        return tasks.task_states(client, [job.key], 10)[job.key]


def _refresh_until_terminal(job, timeout=60):
    def ended():
        job.refresh_from_scheduler()
        return job.cached_status in ("Complete", "Error", "Aborted")

    wait_until(ended, timeout=timeout, interval=0.1,
               message=f"job {job.pk} to end (now {job.cached_status})")


def test_killed_right_after_execute_a_job_is_held_or_lost_never_hung(
        make_dask_job, settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "LOST_JOB_GRACE": 1}
    sent, lost = make_dask_job(name="sent"), make_dask_job(name="lost")
    sent.save()
    lost.save()
    web = subprocess.run([sys.executable, "-c", WEB, str(sent.pk), str(lost.pk)],
                         env=db_env(DJANGO_SETTINGS_MODULE="tests.settings"), capture_output=True, text=True, timeout=120)
    assert web.returncode == -9, web.stderr[-2000:]  # killed, as planned, after execute()
    sent_key, lost_key = web.stdout.split()

    # Both rows were committed by execute(): Running, with the key that was submitted.
    sent, lost = DaskJob.objects.get(pk=sent.pk), DaskJob.objects.get(pk=lost.pk)
    assert (sent.key, sent._status) == (sent_key, "RUN")
    assert (lost.key, lost._status) == (lost_key, "RUN")

    # The submission that left the process carried its hold: the task outlives the
    # process that submitted it, and the job ends Complete with its result.
    _refresh_until_terminal(sent)
    assert sent.cached_status == "Complete" and sent.result == 42

    # The one that never left: the scheduler never knew the key; after the grace the
    # status rules end the run as lost (no retry policy here: Error, with the reason).
    assert _state(lost) is None
    _refresh_until_terminal(lost)
    row = TethysJob.objects.get_subclass(pk=lost.pk)
    assert row.cached_status == "Error"
    assert "no longer knows this job" in row.status_message
    assert _state(lost) is None  # nothing was left running for the lost job
