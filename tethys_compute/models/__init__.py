"""Every model of tethys_compute, importable from ``tethys_compute.models``."""

from ..notifications.models import JobNotification, NotificationDelivery, NotificationPreference
from .basic_job import BasicJob
from .condor.condor_base import CondorBase
from .condor.condor_job import CondorJob
from .condor.condor_py_job import CondorPyJob
from .condor.condor_py_workflow import CondorPyWorkflow
from .condor.condor_scheduler import CondorScheduler
from .condor.condor_workflow import CondorWorkflow
from .condor.condor_workflow_job_node import CondorWorkflowJobNode
from .condor.condor_workflow_node import CondorWorkflowNode
from .dask.dask_field import DaskSerializedField
from .dask.dask_job import DaskJob
from .dask.dask_job_exception import DaskJobException
from .dask.dask_scheduler import DaskScheduler
from .engine_lease import EngineLease
from .scheduler import Scheduler
from .scheduler_setting import SchedulerSetting
from .status_change import JobStatusChange
from .tethys_job import TethysJob

__all__ = [
    "BasicJob",
    "CondorBase",
    "CondorJob",
    "CondorPyJob",
    "CondorPyWorkflow",
    "CondorScheduler",
    "CondorWorkflow",
    "CondorWorkflowJobNode",
    "CondorWorkflowNode",
    "DaskJob",
    "DaskJobException",
    "DaskScheduler",
    "DaskSerializedField",
    "EngineLease",
    "JobNotification",
    "JobStatusChange",
    "NotificationDelivery",
    "NotificationPreference",
    "Scheduler",
    "SchedulerSetting",
    "TethysJob",
]
