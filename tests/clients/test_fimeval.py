"""FIMeval (C9) on a real Dask cluster whose scheduler runs no plugin: F2 (job_type as a
class), F5 (``_status`` codes), F6 (``key``, ``scheduler.host`` with ``tcp://`` given to
``Client``), F7 (``DaskJob.objects.get/latest``, ``DoesNotExist``), F18 (the app setting
lookup raises when unassigned), F21 (the monitor ends the job without the plugin)."""

import pytest

from tests.clients.apps import fimeval
from tests.engines.dask.fixtures import *  # noqa: F403
from tests.engines.dask.fixtures import wait_until
from tethys_compute.models import DaskJob, SchedulerSetting
from tethys_compute.monitor import run_cycle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _quick_refresh(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "UPDATE_STATUS_INTERVAL": 0}


def test_unassigned_setting_is_reported_by_the_app(user):
    assert fimeval.submit_evaluation(user, "creek", [1.0]) is None
    assert not DaskJob.objects.exists()


def test_evaluation_runs_to_complete_without_the_plugin(user, dask_scheduler):
    assert dask_scheduler.host.startswith("tcp://")
    fimeval.FimEval.sync_scheduler_settings()
    SchedulerSetting.objects.filter(app_package="fimeval").update(
        scheduler_service=dask_scheduler)
    job = fimeval.submit_evaluation(user, "creek", [0.5, 2.25, 1.0])
    assert type(job) is DaskJob and job.key
    assert fimeval.evaluation_state(job.pk) == "running"

    def done():
        run_cycle()  # tethys_compute_monitor's cycle: no plugin on this scheduler
        return fimeval.evaluation_state(job.pk) != "running"

    wait_until(done, timeout=30, interval=0.1, message="the evaluation to finish")
    assert fimeval.evaluation_state(job.pk) == "done"
    stored = DaskJob.objects.get(id=job.pk)
    assert stored.result == {"site": "creek", "max_depth": 2.25}
    assert stored.extended_properties == {"site": "creek", "n": 3}
    assert fimeval.latest_evaluation() == ("FIM creek", stored.key, dask_scheduler.host)
    assert fimeval.evaluation_state(999999) == "missing"
