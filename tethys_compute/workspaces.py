"""Job directories.

Each job gets its own directory,
``<WORKSPACES_ROOT>/<app package>/user_workspaces/<username>/<job dir>``. Tethys gives
every job the user's whole workspace and deletes it with the job; here only a directory
that belongs to one job alone is ever removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from pathlib import Path

from .conf import workspaces_root

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def _safe_part(value: str, what: str) -> str:
    part = _UNSAFE.sub("_", str(value)).strip(".")
    if not part:
        raise ValueError(f"Cannot build a workspace path from an empty {what} ({value!r}).")
    return part


def user_workspace(package: str, username: str) -> Path:
    """Return ``<root>/<package>/user_workspaces/<username>`` (not created)."""
    return (
        workspaces_root()
        / _safe_part(package, "app package")
        / "user_workspaces"
        / _safe_part(username, "username")
    )


class UserWorkspace:
    """A user's workspace of an app (Tethys's workspace object: its ``path`` is a ``str``)."""

    def __init__(self, path):
        self.path = str(path)

    def __repr__(self):
        return f"<UserWorkspace {self.path}>"


def get_user_workspace(app, user) -> UserWorkspace:
    """Return the user's workspace of ``app`` (an app class or instance, or anything with
    a ``package``), creating its directory: ``<root>/<package>/user_workspaces/<username>``.

    Named as Tethys's, because apps' tests patch ``tethys_compute.job_manager.get_user_workspace``.
    """
    if isinstance(app, str):
        package = app
    else:  # a Tethys app (its package; "" for a bare TethysAppBase) or an AppConfig
        package = getattr(app, "package", None) or getattr(app, "label", None) or "app"
    path = str(user_workspace(package, user.get_username()))
    try:
        os.mkdir(path)  # one system call when it exists (every job after the first)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
    return UserWorkspace(path)


def new_job_workspace(package: str, username: str, parent=None) -> Path:
    """Create and return a new, empty directory for one job in the user's workspace (or
    in ``parent`` when given)."""
    base = str(parent) if parent is not None else str(user_workspace(package, username))
    path = os.path.join(base, f"job-{uuid.uuid4().hex[:16]}")
    try:
        os.mkdir(path)  # one system call when the parent exists (create_job made it)
    except FileNotFoundError:
        os.makedirs(path)
    return Path(path)


def is_own_job_directory(job) -> bool:
    """True when ``job.workspace`` is a directory that only this job uses and that lies
    strictly inside a user workspace under the workspaces root."""
    if not job.workspace:
        return False
    try:
        path = Path(job.workspace).resolve()
        root = workspaces_root()
        relative = path.relative_to(root)
    except (OSError, ValueError):
        return False
    # <package>/user_workspaces/<username>/<job dir>[/...]
    parts = relative.parts
    if len(parts) < 4 or parts[1] != "user_workspaces":
        return False
    from .models import TethysJob

    shared = TethysJob.objects.filter(workspace=job.workspace).exclude(pk=job.pk).exists()
    return not shared


def remove_job_workspace(job) -> bool:
    """Delete ``job``'s directory if it is the job's own (see :func:`is_own_job_directory`).

    Returns True when a directory was removed. Never raises for a missing directory.
    """
    if not is_own_job_directory(job):
        if job.workspace:
            logger.info("Job %s: leaving %s in place (not the job's own directory).",
                        job.pk, job.workspace)
        return False
    path = Path(job.workspace)
    if not path.exists():
        return False
    # An engine told to stop may still be writing in it (DAGMan writes its rescue file and
    # its log as it exits, after condor_rm has answered): a file made while the tree was
    # being removed leaves the directory in place, so the removal is tried again.
    for _ in range(3):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            break
    else:
        logger.warning("Job %s: %s could not be removed whole (still written to?).",
                       job.pk, path)
    return True
