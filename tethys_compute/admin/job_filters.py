"""Job types, the fields each adds, and the job changelist's filters (status, type, app).

Also used by ``manage.py tethys_compute_jobs`` so that both filter alike.
"""

from __future__ import annotations

from functools import reduce
from operator import and_

from django.apps import apps
from django.contrib import admin
from django.db.models import Q

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


def app_lookups(packages):
    """Filter choices for app packages: ``(package, "App Name (package)")``, the bare
    package for an app that is not registered (any more)."""
    names = {package: app.name for package, app in registered_apps().items()}
    return [(p, f"{names[p]} ({p})" if p in names else p) for p in packages]


class AppFilter(admin.SimpleListFilter):
    title = "app"
    parameter_name = "app"

    def lookups(self, request, model_admin):
        return app_lookups(
            TethysJob.objects.order_by("label").values_list("label", flat=True).distinct())

    def queryset(self, request, queryset):
        return queryset.filter(label=self.value()) if self.value() else queryset
