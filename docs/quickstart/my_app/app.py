from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting


class MyApp(TethysAppBase):
    name = "My App"
    package = "my_app"  # the label stored on the app's jobs

    def scheduler_settings(self):
        return (
            SchedulerSetting(
                name="dask_primary",
                description="Dask cluster for model runs",
                engine=SchedulerSetting.DASK,
                required=True,
            ),
        )
