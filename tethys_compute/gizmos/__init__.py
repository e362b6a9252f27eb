"""Gizmo options, importable as from Tethys's ``tethys_sdk.gizmos``::

    from tethys_compute.gizmos import JobsTable, CustomJobAction
"""

from ..jobs_table.custom import CustomJobAction
from ..jobs_table.options import JobsTable

__all__ = ["CustomJobAction", "JobsTable"]
