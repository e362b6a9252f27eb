"""``JobManager``: creates, lists and fetches one app's jobs (Tethys's API).

Differences from Tethys 4.6 (see "Differences from Tethys" in the docs): a list of groups works in
``create_job`` and ``list_jobs``; ``list_jobs`` returns each job once and leaves the
caller's ``filters`` alone; an unknown ``job_type`` raises ``ValueError`` naming the valid
ones; ``{id}`` in a name is filled for every job type; each job gets its own directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from .models import BasicJob, CondorJob, CondorWorkflow, DaskJob, TethysJob
from .models.validation import check_fields
from .notifications.spec import for_new_job as notify_fields
from .views import job_lookup
from .workspaces import get_user_workspace, new_job_workspace

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet
    from django.http import HttpRequest

    UserArg = AbstractBaseUser | AnonymousUser

#: A ``Group`` or an iterable of groups.
Groups = Group | Iterable[Group]

JOB_TYPES: dict[str, type[TethysJob]] = {
    "CONDOR": CondorJob,
    "CONDORJOB": CondorJob,
    "CONDORWORKFLOW": CondorWorkflow,
    "BASIC": BasicJob,
    "DASK": DaskJob,
}


def _app_package(app: Any) -> str:
    """The package name (job label) of a Tethys app instance or class, an object with a
    ``package`` attribute, or a Django ``AppConfig`` (its ``label``)."""
    from django.apps import AppConfig

    from .app_base import TethysAppBase

    if isinstance(app, AppConfig):
        return app.label
    if type(app) is TethysAppBase:
        return ""  # a bare TethysAppBase() (apps' tests use one): label "", as Tethys
    package = getattr(app, "package", None)
    if not package or not isinstance(package, str):
        raise TypeError(
            "JobManager needs a Tethys app (an object with a `package` name) or a Django "
            f"AppConfig, not {app!r}."
        )
    return package


def _resolve_job_type(job_type: str | type[TethysJob] | None) -> type[TethysJob]:
    if isinstance(job_type, type) and issubclass(job_type, TethysJob):
        return job_type
    if isinstance(job_type, str) and job_type.upper() in JOB_TYPES:
        return JOB_TYPES[job_type.upper()]
    valid = ", ".join(sorted(JOB_TYPES))
    raise ValueError(
        f"Unknown job_type {job_type!r}: use one of {valid}, or a TethysJob subclass."
    )


def _as_groups(groups: Groups | None) -> list[Group]:
    if groups is None:
        return []
    if isinstance(groups, Group):
        return [groups]
    groups = list(groups)
    for group in groups:
        if not isinstance(group, Group):
            raise TypeError(f"groups must be Group objects, not {group!r}.")
    return groups


class JobManager:
    """Manages the jobs of one app.

    :param app: a ``TethysAppBase`` subclass instance (Tethys's usage:
        ``App.get_job_manager()``), any object with a ``package`` attribute, or a Django
        ``AppConfig`` (whose ``label`` becomes the job label).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.label: str = _app_package(app)
        self.job_templates: dict[str, Any] = {}

    def create_job(self, name: str, user: UserArg, groups: Groups | None = None,
                   job_type: str | type[TethysJob] | None = None, **kwargs: Any) -> TethysJob:
        """Create a job of this app for ``user``.

        :param name: the job's name (``str``); ``{id}`` in it is replaced by the job's id
            once saved.
        :param user: the owner (a saved ``User``).
        :param groups: a ``Group`` or an iterable of groups that share the job; when given,
            the job is saved (as Tethys does).
        :param job_type: ``"BASIC"``, ``"CONDOR"``/``"CONDORJOB"``, ``"CONDORWORKFLOW"``,
            ``"DASK"`` or a ``TethysJob`` subclass.
        :param kwargs: further model fields (``description``, ``scheduler``,
            ``attributes``, ``extended_properties``...); ``label`` and ``workspace`` may
            be overridden. ``notify``: who is told about the job's events, e.g.
            ``["email", "https://hooks.example.org/jobs"]`` (see
            :mod:`tethys_compute.notifications.spec`; default: the app's ``notify``).
        :returns: the job, unsaved unless ``groups`` was given (as Tethys).
        :raises ValueError: on an unknown ``job_type``, an empty ``name`` or a bad
            ``notify`` (naming the problem); an
            ``InvalidField`` (also a ``ValidationError``) naming each field whose value
            cannot be stored (longer than its field, NUL characters, out of range).
        :raises TypeError: if ``user`` is not a saved user, or groups are not Groups.
        """
        job_class = _resolve_job_type(job_type)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"A job needs a non-empty name, not {name!r}.")
        if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
            raise TypeError(
                f"A job needs a saved, authenticated user as its owner, not {user!r}."
            )
        group_list = _as_groups(groups)
        kwargs.update(notify_fields(kwargs.pop("notify", None), self.app))
        kwargs.setdefault("label", self.label)
        # As Tethys, the user's workspace is made even when ``workspace=`` overrides it.
        user_dir = get_user_workspace(self.app, user).path
        if "workspace" not in kwargs:
            kwargs["workspace"] = str(
                new_job_workspace(kwargs["label"], user.get_username(), parent=user_dir))
        # Checked above: a saved user of the project's AUTH_USER_MODEL.
        job = job_class(name=name, user=cast(Any, user), **kwargs)
        check_fields(job)
        if group_list:
            with transaction.atomic():
                job.save()
                job.groups.add(*group_list)
        return job

    def list_jobs(self, user: UserArg | None = None, groups: Groups | None = None,
                  order_by: str = "id",
                  filters: Mapping[str, Any] | None = None) -> QuerySet[TethysJob]:
        """Return this app's jobs, as their own classes, as a lazy queryset.

        :param user: only this user's jobs.
        :param groups: a ``Group`` or iterable of groups: jobs shared with any of them,
            each job once.
        :param order_by: a field name for ``order_by`` (default ``"id"``).
        :param filters: extra ``filter()`` keyword arguments (not modified); a ``label``
            entry replaces the app's own label.
        :raises ValueError: if both ``user`` and ``groups`` are given.
        """
        if user is not None and groups is not None:
            raise ValueError(
                "The user and groups parameters are mutually exclusive and cannot be used together."
            )
        query = dict(filters or {})
        query.setdefault("label", self.label)
        jobs = TethysJob.objects.filter(**query)
        if user is not None:
            jobs = jobs.filter(user=user)
        if groups is not None:
            group_ids = [group.pk for group in _as_groups(groups)]
            jobs = jobs.filter(
                pk__in=TethysJob.groups.through.objects.filter(group_id__in=group_ids).values(
                    "tethysjob_id"
                )
            )
        return jobs.order_by(order_by).select_subclasses()

    def get_job(self, job_id: int | str, user: UserArg | None = None,
                filters: Mapping[str, Any] | None = None) -> TethysJob | None:
        """Return job ``job_id`` of this app as its own class, or ``None``.

        :param user: when given, only a job owned by this user is returned.
        :param filters: extra ``filter()`` keyword arguments (not modified).
        """
        if not filters:
            return self._get_job_by_id(job_id, user)
        query = dict(filters)
        query.setdefault("label", self.label)
        query["id"] = job_id
        if user is not None:
            query["user"] = user
        try:
            return TethysJob.objects.get_subclass(**query)
        except (TethysJob.DoesNotExist, ValueError, TypeError):
            return None

    def _get_job_by_id(self, job_id: int | str, user: UserArg | None) -> TethysJob | None:
        """``get_job`` without filters: the job loaded by primary key through the SELECT
        compiled once (``views.job_lookup``, as the callbacks load it), then its app and
        owner compared, which is what the filtered query asked of the row."""
        try:
            pk = int(job_id)
            owner = None if user is None else int(cast(Any, getattr(user, "pk", user)))
        except (TypeError, ValueError):  # not an id; an anonymous user (pk None)
            return None
        job = job_lookup.get_job(pk)
        if job is None or job.label != self.label:
            return None
        if owner is not None and job.user_id != owner:
            return None
        return job

    def get_job_status_callback_url(self, request: HttpRequest, job_id: int | str) -> str:
        """Absolute URL a compute node calls to ask for a refresh of job ``job_id``."""
        return request.build_absolute_uri(reverse("update_job_status", kwargs={"job_id": job_id}))

    def get_job_status_report_url(self, request: HttpRequest, job_id: int | str) -> str:
        """Absolute URL a compute node posts a status report to (send the job's
        ``status_report_token`` in an ``Authorization: Bearer`` header or the body).

        Hand the node this URL and ``job.status_report_token`` (e.g. as environment
        variables ``REPORT_URL`` and ``REPORT_TOKEN``); it reports with::

            curl -fsS -H "Authorization: Bearer $REPORT_TOKEN" \\
                 -d status=Running -d progress=40 "$REPORT_URL"

        or from Python (standard library only)::

            import json, os, urllib.request
            urllib.request.urlopen(urllib.request.Request(
                os.environ["REPORT_URL"],
                json.dumps({"status": "Complete", "progress": 100}).encode(),
                {"Authorization": "Bearer " + os.environ["REPORT_TOKEN"],
                 "Content-Type": "application/json"}))

        Fields: ``status`` (code or display name), ``progress`` (0-100),
        ``progress_message``, ``node_statuses`` (a JSON object). See
        :func:`tethys_compute.views.update_status.report_job_status` for the answers.
        """
        return request.build_absolute_uri(reverse("report_job_status", kwargs={"job_id": job_id}))
