"""The Nile Flow app, declared as a Tethys app author would (only the imports differ)."""

# Tethys: from tethys_sdk.base import TethysAppBase
#         from tethys_sdk.app_settings import SchedulerSetting
from tethys_compute.app_base import TethysAppBase
from tethys_compute.app_settings import SchedulerSetting


class NileFlow(TethysAppBase):
    """Flood and drought frequency of the river Nile at Aswan, 1871-1970."""

    name = "Nile Flow"
    package = "nile_flow"
    description = "Flood and drought frequency of the Nile at Aswan, on Dask and HTCondor."
    color = "#1f6f8b"

    def scheduler_settings(self):
        return (
            SchedulerSetting(
                name="dask_primary",
                description="Dask cluster that runs the statistical jobs.",
                engine=SchedulerSetting.DASK,
                required=True,
            ),
            SchedulerSetting(
                name="condor_primary",
                description="HTCondor pool for the bootstrap workflow (optional).",
                engine=SchedulerSetting.HTCONDOR,
                required=False,
            ),
        )
