from .condor_base import CondorBase
from .condor_py_job import CondorPyJob


class CondorJob(CondorBase, CondorPyJob):
    """An HTCondor job: one cluster of ``num_jobs`` procs from one submit description."""
