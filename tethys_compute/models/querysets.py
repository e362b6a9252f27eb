"""Query vocabulary of jobs: ``TethysJob.objects.active()``, ``.terminal()``,
``.for_app(label)``, ``.visible_to(user)``."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import F, Lookup, Q, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from model_utils.managers import InheritanceManager, InheritanceQuerySet

from .. import status as st
from .subclass_rows import SubclassIterable

JOBS_TABLE_PERMISSION = "tethys_compute.jobs_table_actions"


def _terminal_other_statuses(model):
    """Custom terminal display names registered on ``model`` or any of its subclasses."""
    names = set()
    stack = [model]
    while stack:
        klass = stack.pop()
        names.update(klass.TERMINAL_STATUSES)
        stack.extend(klass.__subclasses__())
    return sorted(names - set(st.BASE_CATEGORIES["TERMINAL_STATUSES"]))


class LiteralIn(Lookup):
    """``lhs IN ('A', 'B')`` with the values written into the SQL, as an index's condition
    is. Only for the fixed status codes (three capital letters), never for user input."""

    lookup_name = "tc_literal_in"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        for code in self.rhs:
            if not _STATUS_CODE.fullmatch(code):
                raise ValueError(f"LiteralIn takes status codes only, not {code!r}")
        values = ", ".join(f"'{code}'" for code in self.rhs)
        return f"{lhs} IN ({values})", params


_STATUS_CODE = re.compile(r"[A-Z]{3}")


class TethysJobQuerySet(InheritanceQuerySet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # select_subclasses() rows built once each, as their own class.
        self._iterable_class = SubclassIterable

    def _other_terminal_q(self):
        names = _terminal_other_statuses(self.model)
        return Q(_status=st.OTHER, _other_text__in=names) if names else Q(pk__in=[])

    def _with_other(self):
        # Cast: a plain text comparison (SQLite would parse `IN` values as JSON).
        # The column, or for rows written by Tethys itself, extended_properties's key.
        legacy = Cast(KeyTextTransform(st.OTHER_STATUS_KEY, "extended_properties"), TextField())
        # Never NULL: "NOT (NULL IN (...))" would leave a textless "Other" out of active().
        text = Coalesce("_other_status", legacy, Value(""), output_field=TextField())
        return self.alias(_other_text=text)

    def active(self) -> TethysJobQuerySet:
        """Jobs whose status can still change: Pending through Paused, and custom
        statuses not registered as terminal."""
        qs = self._with_other()
        # The first term, `_status IN ('PEN', ...)` with literal values, stands alone in the
        # WHERE clause (the rest is an OR), so that an index on _status serves the query
        # (tc_job_status_created, searched once per status). Literal, so that a partial
        # index of these statuses would be usable too: SQLite uses one only when a term
        # of the WHERE clause is its condition (https://sqlite.org/partialindex.html,
        # section 2), and values bound as parameters inside an IN list do not count.
        return qs.filter(
            LiteralIn(F("_status"), tuple(st.MAYBE_ACTIVE_STATUS_CODES)),
            Q(_status__in=st.NON_TERMINAL_STATUS_CODES)
            | (Q(_status=st.OTHER) & ~self._other_terminal_q())
        )

    def terminal(self) -> TethysJobQuerySet:
        """Jobs that have ended (Complete, Error, Aborted, Various-Complete,
        Results-Ready, and custom terminal statuses)."""
        qs = self._with_other()
        return qs.filter(Q(_status__in=st.TERMINAL_STATUS_CODES) | self._other_terminal_q())

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the jobs (see ``TethysJob.delete``), in a savepoint: when one job's remote
        work cannot be stopped (:class:`~tethys_compute.exceptions.RemoteWorkNotStopped`)
        none is deleted, and a caller's transaction stays usable."""
        with transaction.atomic(using=self.db):
            if getattr(self, "subclasses", None):
                # select_subclasses() (e.g. JobManager.list_jobs()): Django's deletion
                # cannot walk the mixed subclass objects; delete their base rows.
                ids = list(self.order_by().values_list("pk", flat=True))
                return self.model._base_manager.using(self.db).filter(pk__in=ids).delete()
            return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]  # no Manager.delete()

    def for_app(self, label: str) -> TethysJobQuerySet:
        """Jobs of one app (``label`` is the app's package name, as Tethys stores it)."""
        return self.filter(label=label)

    def visible_to(self, user, among=None):
        """Jobs ``user`` may see: their own and their groups' jobs, or every job for a
        holder of the ``tethys_compute.jobs_table_actions`` permission. Anonymous and
        inactive users see none.

        :param among: job ids (an iterable of int) to keep to, or ``None`` for all. With a
            few ids (a table's poll), every job is looked up by its primary key, and so is
            its group membership, instead of reading all the jobs the groups share.
        """
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        jobs = self.all() if among is None else self.filter(pk__in=list(among))
        if user.has_perm(JOBS_TABLE_PERMISSION):
            return jobs
        group_ids = list(user.groups.values_list("pk", flat=True))
        if not group_ids:
            return jobs.filter(user=user)
        shared = self.model.groups.through.objects.filter(group_id__in=group_ids)
        if among is not None:
            shared = shared.filter(tethysjob_id__in=list(among))
        return jobs.filter(Q(user=user) | Q(pk__in=shared.values("tethysjob_id")))


TethysJobManager = InheritanceManager.from_queryset(TethysJobQuerySet)
