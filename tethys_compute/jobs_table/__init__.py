"""The jobs table: options (``JobsTable``, ``CustomJobAction``), endpoints, template and
script. Use it as Tethys's gizmo::

    from tethys_compute.gizmos import JobsTable
    table = JobsTable(jobs=job_manager.list_jobs(request.user),
                      column_fields=("id", "name", "creation_time", "run_time"))

and in the template ``{% load tethys_compute %}{% jobs_table table %}``.
"""

__all__ = ["CustomJobAction", "JobsTable", "get_jobs_user", "purge_anonymous_users",
           "register_action_callable"]


def __getattr__(name):
    # Lazy, so that importing the package (its urls) never imports models too early.
    if name == "JobsTable":
        from .options import JobsTable

        return JobsTable
    if name == "CustomJobAction":
        from .custom import CustomJobAction

        return CustomJobAction
    if name == "register_action_callable":
        from .callables import register_action_callable

        return register_action_callable
    if name in ("get_jobs_user", "purge_anonymous_users"):
        from . import access

        return getattr(access, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
