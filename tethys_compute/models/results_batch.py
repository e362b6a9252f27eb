"""Many finished jobs written at once: the batch form of ``_write_results_at_hand``.

A batch refresh that finds many jobs finished, each with its result processing already
done in memory (``JobResults._results_at_hand``, e.g. a Dask result gathered with the
batch's answer), moves them all through Results-Ready to Complete with a number of
statements that does not grow with the number of jobs (it grows only with the
database's limit on bound parameters, see :func:`_chunks`):

* one ``UPDATE ... RETURNING`` per group of jobs with the same status, run (``attempt``)
  and set of columns (in practice one group). It carries the conditions of the claim
  that a single job's write has (status, attempt, processing claimable, no
  ``completion_time``), so only rows that are still as they were loaded are moved, and
  exactly those are returned: each completion is processed once even when two
  refreshers race, as with the per-job claim;
* the changed plain fields of exactly the returned rows (a Dask job's result), one
  ``UPDATE`` per table (a ``CASE`` on the primary key);
* both history rows of every returned job in one ``INSERT``.

The caller runs :func:`write` inside one transaction (a savepoint when nested), so a
database error undoes the whole batch and the caller can fall back to writing job by
job; only then are the instances updated (:func:`written`), signals sent and the jobs
whose rows moved on reloaded (:func:`moved_on`).

``UPDATE ... RETURNING`` needs PostgreSQL or SQLite 3.35 or later (:func:`supported`);
elsewhere the caller writes job by job.
"""

from __future__ import annotations

import copy
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.sql import UpdateQuery

from .. import signals
from .. import status as st
from .job_status import RESULTS_RETRY, STATUS_FIELDS, _job_model, _short
from .status_change import JobStatusChange

logger = logging.getLogger("tethys_compute.jobs")

#: Bound parameters left for the conditions and constant values of one statement.
_HEADROOM = 100


@dataclass
class Completion:
    """One job to move from its in-memory status to ``final`` through ``via``.

    :ivar values: the job table's columns to write (``TethysJob._status_values``).
    :ivar plain: the names of the changed non-status fields to store with it.
    :ivar reason: the reason recorded for the first step (the second one's is
        "results processed", as a single job's write records it).
    """

    job: Any
    values: dict
    plain: list[str] = field(default_factory=list)
    reason: str = "engine status"
    via: str = st.RESULTS_READY
    final: str = st.COMPLETE
    old: str = ""

    def __post_init__(self):
        self.old = self.job._status


def supported(using: str) -> bool:
    """True when the database ``using`` can return the rows an UPDATE changed."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0)


def write(completions: list[Completion], using: str) -> tuple[list[Completion], list[Completion]]:
    """Write ``completions`` (call it inside a transaction); returns ``(written,
    moved_on)``: the completions whose rows this call moved, and those whose rows had
    moved on (another process changed them first). Nothing is set on the instances.

    :raises DatabaseError: a statement failed (the caller's transaction is to be rolled
        back).
    """
    groups: dict[tuple, list[Completion]] = {}
    for completion in completions:
        job = completion.job
        key = (completion.old, job.attempt, completion.via, completion.final,
               tuple(sorted(completion.values)))
        groups.setdefault(key, []).append(completion)
    claimed: set = set()
    for (old, attempt, *_rest), group in groups.items():
        claimed |= _claim(group, old, attempt, using)
    written = [c for c in completions if c.job.pk in claimed]
    _store_plain(written, using)
    _record(written, using)
    return written, [c for c in completions if c.job.pk not in claimed]


def _claim(group, old, attempt, using):
    """One conditional UPDATE ... RETURNING per chunk of ``group``: the ids moved."""
    model = _job_model()
    names = list(group[0].values)
    varying = [name for name in names
               if any(c.values[name] != group[0].values[name] for c in group)]
    claimable = (Q(_results_state__isnull=True) | Q(_results_state__in=("", RESULTS_RETRY))
                 ) & Q(completion_time__isnull=True)
    connection = connections[using]
    ids = set()
    for chunk in _chunks(group, 1 + 2 * len(varying), connection):
        values: dict[str, Any] = {
            name: value for name, value in chunk[0].values.items() if name not in varying}
        for name in varying:
            values[name] = _case(model, name, [(c.job.pk, c.values[name]) for c in chunk],
                                 connection)
        rows = model._base_manager.using(using).filter(
            claimable, pk__in=[c.job.pk for c in chunk], _status=old, attempt=attempt)
        ids |= _update_returning(rows, values, connection)
    return ids


def _case(model, name, pairs, connection):
    """``CASE pk WHEN id THEN value ... END`` for field ``name`` of ``model``, each value
    prepared as the field saves it (written as SQL: Django's ``Case(When(...))`` costs
    about a millisecond of Python per job)."""
    model_field = model._meta.get_field(name)
    pk = connection.ops.quote_name(model._meta.pk.column)
    params: list[Any] = []
    for pk_value, value in pairs:
        params += [pk_value, model_field.get_db_prep_save(value, connection)]
    sql = f"CASE {pk} {' '.join(['WHEN %s THEN %s'] * len(pairs))} END"
    if connection.features.requires_casted_case_in_updates:
        sql = f"CAST({sql} AS {model_field.cast_db_type(connection)})"
    return RawSQL(sql, params, output_field=model_field)


def _update_returning(queryset, values, connection):
    """``queryset.update(**values)``, returning the primary keys of the rows changed."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    sql, params = query.get_compiler(queryset.db).as_sql()
    pk = connection.ops.quote_name(queryset.model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {pk}", params)
        return {row[0] for row in cursor.fetchall()}


def _chunks(items, params_per_item, connection):
    """``items`` in chunks whose statement stays within the database's limit on bound
    parameters (SQLite: 999 under Django 5.2, its compile-time limit under Django 6)."""
    limit = connection.features.max_query_params or 65535
    size = max(1, (limit - _HEADROOM) // params_per_item)
    return [items[start:start + size] for start in range(0, len(items), size)]


def _store_plain(written, using):
    """The changed plain fields of the written jobs: one UPDATE per table and set of
    fields (per chunk under the parameter limit)."""
    groups: dict[tuple, list] = {}
    for completion in written:
        job = completion.job
        by_owner: dict[Any, list[str]] = {}
        for name in completion.plain:
            owner = job._meta.get_field(name).model._meta.concrete_model
            by_owner.setdefault(owner, []).append(name)
        for owner, names in by_owner.items():
            groups.setdefault((owner, tuple(sorted(names))), []).append(job)
    connection = connections[using]
    for (owner, names), jobs in groups.items():
        for chunk in _chunks(jobs, 1 + 2 * len(names), connection):
            owner._base_manager.using(using).filter(pk__in=[job.pk for job in chunk]).update(
                **{name: _case(owner, name, [(job.pk, getattr(job, name)) for job in chunk],
                               connection) for name in names})


#: The history columns :func:`_record` writes (the others keep their defaults).
_HISTORY = ("job", "old_status", "new_status", "other_status", "time", "reason", "attempt",
            "failure_kind")


def _record(written, using):
    """Both history rows of every written job: one INSERT per chunk, written as SQL
    (``bulk_create`` builds a model instance per row first, with nothing to add here:
    it sends no signals either)."""
    if not written:
        return
    connection = connections[using]
    fields = [JobStatusChange._meta.get_field(name) for name in _HISTORY]
    times: dict = {}
    rows = []
    for completion in written:
        job, values = completion.job, completion.values
        now = values["_last_status_update"]
        if now not in times:
            times[now] = fields[4].get_db_prep_save(now, connection)
        attempt = values.get("attempt", job.attempt)
        rows += [[job.pk, old, new, "", times[now], _short(reason), attempt, ""]
                 for old, new, reason in _steps(completion)]
    table = connection.ops.quote_name(JobStatusChange._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    one = f"({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, len(fields), connection):
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(chunk))}"
            cursor.execute(sql, [value for row in chunk for value in row])


def _steps(completion):
    return [(completion.old, completion.via, completion.reason),
            (completion.via, completion.final, "results processed")]


def written(completions: list[Completion]) -> None:
    """After the transaction of :func:`write`: set the written values on the instances
    and send ``job_status_changed`` for both steps and ``job_finished``, job by job, in
    order. A receiver that raises is logged; the other jobs' signals are still sent."""
    for completion in completions:
        job = completion.job
        for name, value in completion.values.items():
            setattr(job, name, value)
        job._take_snapshot(set(completion.values) | set(completion.plain))
        try:
            for old, new, reason in _steps(completion):
                signals.job_status_changed.send(sender=type(job), job=job, old=old, new=new,
                                                reason=reason)
            if job.is_terminal and job.completion_time and not job.post_processing_incomplete:
                signals.job_finished.send(sender=type(job), job=job, status=completion.final)
        except Exception:  # noqa: BLE001 - the job's change is written; others go on
            logger.exception("Job %s: a receiver of its status signals failed", job.pk)


def moved_on(completions: list[Completion], using: str) -> None:
    """Put back what :func:`write` did not store: each instance's plain fields as
    loaded, and its status fields as the row now holds them (one query)."""
    if not completions:
        return
    for completion in completions:
        put_back(completion)
    rows = {row.pop("pk"): row for row in _job_model()._base_manager.using(using).filter(
        pk__in=[c.job.pk for c in completions]).values("pk", *STATUS_FIELDS, "execute_time")}
    for completion in completions:
        row = rows.get(completion.job.pk)
        if row is None:
            continue
        for name, value in row.items():
            setattr(completion.job, name, value)
        completion.job._take_snapshot(set(row))


def put_back(completion: Completion) -> None:
    """Give the instance's changed plain fields their loaded values again."""
    job = completion.job
    for name in completion.plain:
        setattr(job, name, copy.deepcopy(job._loaded_value(name)))
