"""A Tethys-style app used by the tests, declared exactly as a Tethys app author would."""

from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting


class TestApp(TethysAppBase):
    name = "Test App"
    package = "test_app"

    def scheduler_settings(self):
        return (
            SchedulerSetting(
                name="dask_primary",
                description="Dask cluster for model runs",
                engine=SchedulerSetting.DASK,
                required=True,
            ),
            SchedulerSetting(
                name="condor_primary",
                description="HTCondor pool",
                engine=SchedulerSetting.HTCONDOR,
                required=False,
            ),
        )
