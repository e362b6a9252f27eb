"""Job types, the fields each adds, and the job changelist's filters (status, type, app,
owner).

The app and owner filters list their choices from bounded reads (issue 17: 1,000,000
jobs): the apps by one index seek per app label, the owners by an ``EXISTS`` probe per
user, at most :data:`APP_CHOICES` / :data:`OWNER_CHOICES` of them; neither reads every job.

Also used by ``manage.py tethys_compute_jobs`` so that both filter alike.
"""

from __future__ import annotations

from functools import reduce
from operator import and_

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q

from .. import status as st
from ..app_base import registered_apps
from ..models import TethysJob


def _ancestor_path(model) -> str:
    """Lookup path from ``TethysJob`` down to ``model`` (``"condorbase__condorjob"``)."""
    parts: list[str] = []
    link = model._meta.get_ancestor_link(TethysJob)
    while link is not None:
        parts.insert(0, link.related_query_name())
        model = link.remote_field.model
        link = model._meta.get_ancestor_link(TethysJob)
    return "__".join(parts)


def job_types() -> dict[str, tuple[type, str]]:
    """Every concrete job class: ``{class name: (model, lookup path from TethysJob)}``,
    sorted by name (apps' own ``TethysJob`` subclasses included)."""
    found = {}
    for model in apps.get_models():
        if issubclass(model, TethysJob) and model is not TethysJob and not model._meta.proxy:
            found[model.__name__] = (model, _ancestor_path(model))
    return dict(sorted(found.items()))


def added_fields(model) -> list:
    """The concrete fields a job class adds to ``TethysJob`` (its own and its engine
    base's), without primary keys and parent links, in declaration order."""
    base = {f.attname for f in TethysJob._meta.concrete_fields}
    return [f for f in model._meta.concrete_fields
            if f.attname not in base and not f.primary_key and not f.auto_created]


def job_type_q(name) -> Q:
    """A ``Q`` matching jobs whose own class is exactly ``name`` (not a subclass of it).

    :raises KeyError: for an unknown class name.
    """
    types = job_types()
    model, path = types[name]
    children = [
        p for _, p in types.values()
        if p.startswith(path + "__") and p.count("__") == path.count("__") + 1
    ]
    conditions = [Q(**{f"{path}__isnull": False})]
    conditions += [Q(**{f"{child}__isnull": True}) for child in children]
    return reduce(and_, conditions)


def status_q(queryset, value):
    """Filter ``queryset`` (a ``TethysJob`` queryset) by ``value``: ``"active"``,
    ``"finished"``, or a status code."""
    if value == "active":
        return queryset.active()
    if value == "finished":
        return queryset.terminal()
    return queryset.filter(_status=value)


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("active", "Active (not finished)"), ("finished", "Finished"), *st.STATUSES)

    def queryset(self, request, queryset):
        value = self.value()
        if value in ("active", "finished") or value in st.VALID_STATUSES:
            return status_q(queryset, value)
        return queryset


class JobTypeFilter(admin.SimpleListFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in job_types()]

    def queryset(self, request, queryset):
        value = self.value()
        if value in job_types():
            return queryset.filter(job_type_q(value))
        return queryset


class Likely(ExpressionWrapper):
    """A condition SQLite's planner takes as true of most rows: ``likely(condition)``
    (https://sqlite.org/lang_corefunc.html#likely); the plain condition elsewhere. An
    index can still serve it.

    An ``ExpressionWrapper`` of the condition, so that Django (6.0+ on a database
    without a boolean type) writes it in a WHERE clause as it is, not as
    ``likely(...) = 1``, which no index serves."""

    def __init__(self, condition):
        super().__init__(condition, output_field=BooleanField())

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.expression)
        return f"likely({sql})", params


class CompletionTimeFilter(admin.DateFieldListFilter):
    """Django's date filter on ``completion_time`` ("Today", "Past 7 days", "This
    month", "This year", "No date", "Has date"), its terms written so that each database
    serves both of the page's reads from an index: the count from the partial index
    ``tc_job_completed`` (a range of it), the page by walking ``tc_job_created`` newest
    first. Without the hint SQLite, having no statistics, took the range of
    ``tc_job_completed`` for the page too and sorted every job completed in it (all of
    a year's at 1,000,000 jobs: a second). The ranges offered all end today, so the
    jobs they match are among the newest."""

    def queryset(self, request, queryset):
        try:
            for param, values in self.used_parameters.items():
                condition = Q()
                for value in values:
                    condition |= Q((param, value))
                queryset = queryset.filter(Likely(condition))
        except (ValueError, ValidationError) as exc:
            raise IncorrectLookupParameters(exc) from exc
        return queryset


def app_lookups(packages):
    """Filter choices for app packages: ``(package, "App Name (package)")``, the bare
    package for an app that is not registered (any more)."""
    names = {package: app.name for package, app in registered_apps().items()}
    return [(p, f"{names[p]} ({p})" if p in names else p) for p in packages]


#: Apps listed by the changelist's app filter (the first by package name); any other is
#: reached with ``?app=<package>``.
APP_CHOICES = 100
#: Owners listed by the changelist's user filter (the first by user name); any other is
#: reached through the link of a job's user on the changelist (``?user__id__exact=<id>``).
OWNER_CHOICES = 100


def job_labels(limit: int | None = None) -> list[str]:
    """The first ``limit`` (default :data:`APP_CHOICES`) distinct app labels of the jobs,
    in order, in one query that seeks the label index once per label (a recursive "skip
    scan"), so that its cost grows with the number of apps, not of jobs (``SELECT
    DISTINCT label`` reads every row). Works on SQLite and PostgreSQL."""
    alias = router.db_for_read(TethysJob)
    connection = connections[alias]
    table = connection.ops.quote_name(TethysJob._meta.db_table)
    label = connection.ops.quote_name("label")  # the column of TethysJob.label
    sql = (
        f"WITH RECURSIVE labels(value) AS ("
        f"SELECT MIN({label}) FROM {table} "
        f"UNION ALL SELECT (SELECT MIN({label}) FROM {table} WHERE {label} > labels.value) "
        f"FROM labels WHERE labels.value IS NOT NULL) "
        f"SELECT value FROM labels WHERE value IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [APP_CHOICES if limit is None else int(limit)])
        return [row[0] for row in cursor.fetchall()]


class AppFilter(admin.SimpleListFilter):
    title = "app"
    parameter_name = "app"

    def lookups(self, request, model_admin):
        labels = job_labels()
        if self.value() and self.value() not in labels:
            labels.append(self.value())
        return app_lookups(labels)

    def queryset(self, request, queryset):
        return queryset.filter(label=self.value()) if self.value() else queryset


def job_owners(limit: int | None = None) -> list[tuple[int, str]]:
    """``(id, user name)`` of the first ``limit`` (default :data:`OWNER_CHOICES`) users,
    by user name, who own a job, in one query: each user is probed with ``EXISTS`` on the
    jobs' user index, so its cost grows with the number of users read, not of jobs."""
    model = get_user_model()
    owns = Exists(TethysJob.objects.filter(user=OuterRef("pk")))
    owners = (model._default_manager.filter(owns).order_by(model.USERNAME_FIELD, "pk")
              .values_list("pk", model.USERNAME_FIELD))
    return list(owners[:OWNER_CHOICES if limit is None else limit])


class OwnerFilter(admin.SimpleListFilter):
    """The jobs of one user (``?user__id__exact=<id>``, Django's parameter for a related
    field filter). Lists the first :data:`OWNER_CHOICES` owners by name, and the chosen
    one; the others are reached through the user link of a job's row."""

    title = "user"
    parameter_name = "user__id__exact"

    def _selected(self):
        value = self.value()
        if value in (None, ""):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise IncorrectLookupParameters(f"user id {value!r} is not a number") from None

    def lookups(self, request, model_admin):
        owners = job_owners()
        selected = self._selected()
        if selected is not None and selected not in {pk for pk, _ in owners}:
            model = get_user_model()
            owners += list(model._default_manager.filter(pk=selected)
                           .values_list("pk", model.USERNAME_FIELD))
        return [(str(pk), name) for pk, name in owners]

    def queryset(self, request, queryset):
        selected = self._selected()
        return queryset if selected is None else queryset.filter(user_id=selected)
