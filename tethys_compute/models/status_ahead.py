"""The status a submission will report, written with the run's claim (a mixin of
``TethysJob``; issue 17 item 4).

``execute()`` claims a run (the INSERT of a new job, or one conditional UPDATE of a saved
one), submits it, then records the status the engine reported (Running for Dask). When
an engine's ``execute()`` runs the whole call in one transaction and knows before
submitting which status a successful submission reports, that status is written by the
claim's own statement instead of by an UPDATE of its own after the submission: the row
is inserted Running, or claimed and made Running by one UPDATE. Nobody sees it before the
transaction commits, which happens only once the submission succeeded and its history
row is written, so what other processes see is unchanged: the job goes from Pending (or
absent) to Running with its key, its history row and its signals, in one commit.

The claim's conditions are the same (Pending, not claimed, the attempt this copy holds):
of two calls racing to execute one job, one claims it and the other raises
``JobStateError`` without submitting, as before. Until the submission is done the job's
in-memory values stay those of a Pending job. A submission that fails takes the status
back (one UPDATE, inside the same transaction) before the failure is written as usual
(Pending -> Error), so the history never shows a run that did not start.

An engine opts in by setting ``__dict__["_status_ahead"]`` (the status code its
``_execute`` returns on success; ``DaskJob.execute`` does) for the duration of the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import signals
from .. import status as st

#: Set by an engine's ``execute()``: the status its ``_execute`` reports on success.
AHEAD = "_status_ahead"
#: Set once a claim wrote that status: ``(values written, values they replaced)``.
WRITTEN = "_written_ahead"

#: Statuses that may be written ahead: active, not Pending, no custom text.
_AHEAD_STATUSES = frozenset({st.SUBMITTED, st.RUNNING})


class StatusAhead:
    """Writing the submission's status with the claim, and taking it back on failure."""

    if TYPE_CHECKING:  # provided by TethysJob
        pk: Any
        attempt: int
        _status: str
        start_time: Any

        def _status_values(self, new: str, now: Any, *, other: Any = None,
                           extra: Any = None) -> dict: ...
        def _take_snapshot(self, fields: Any = None) -> Any: ...

    def _claim_values_ahead(self, now) -> dict:
        """The status columns a claim made at ``now`` writes as well (``{}``: none), and
        note that it did. In memory the job stays Pending until :meth:`_record_ahead`."""
        new = self.__dict__.get(AHEAD)
        if (new not in _AHEAD_STATUSES or self._status != st.PENDING
                or "_status_extra" in self.__dict__):
            self.__dict__.pop(WRITTEN, None)
            return {}
        # What a status write Pending -> new at ``now`` sets (the start time, a cleared
        # engine warning), computed as _write_status computes it.
        values = self._status_values(new, now)
        previous = {name: getattr(self, name) for name in values}
        self.__dict__[WRITTEN] = (values, previous)
        return values

    def _claim_ahead_failed(self):
        """The claim that would have written the values did not happen."""
        self.__dict__.pop(WRITTEN, None)

    def _restore_before_ahead(self):
        """After an INSERT that wrote the values: memory (and what it records as stored)
        back to the Pending values, as for a claim by UPDATE."""
        written = self.__dict__.get(WRITTEN)
        if written is None:
            return
        for name, value in written[1].items():
            setattr(self, name, value)
        self._take_snapshot(set(written[1]))

    def _take_back_ahead(self) -> None:
        """The submission failed (or reported another status): put the row's status
        columns back to what they were before the claim (same transaction, one UPDATE),
        so the failure is written from Pending as usual."""
        from .tethys_job import TethysJob

        written = self.__dict__.pop(WRITTEN, None)
        if written is None:
            return
        TethysJob._base_manager.filter(pk=self.pk, attempt=self.attempt).update(**written[1])

    def _record_ahead(self, new, reason) -> bool:
        """Record the status the claim wrote, now that the submission reported ``new``:
        its history row, the values in memory, ``job_status_changed``. Returns False
        (nothing done; the status taken back) when the claim wrote none or another."""
        from .status_change import JobStatusChange

        written = self.__dict__.get(WRITTEN)
        if written is None:
            return False
        values = written[0]
        if values["_status"] != new or "_status_extra" in self.__dict__:
            self._take_back_ahead()
            return False
        del self.__dict__[WRITTEN]
        old = self._status
        _insert_history(JobStatusChange, self.pk, old, new, values["_last_status_update"],
                        reason, self.attempt)
        for name, value in values.items():
            setattr(self, name, value)
        self._take_snapshot(set(values))
        signals.job_status_changed.send(sender=type(self), job=self, old=old, new=new,
                                        reason=reason)
        return True


#: Per database alias: the history row's INSERT (built once).
_HISTORY_SQL: dict = {}
_HISTORY_COLUMNS = ("job", "old_status", "new_status", "other_status", "time", "reason",
                    "attempt", "failure_kind")


def _insert_history(model, job_id, old, new, when, reason, attempt):
    """One history row, written as SQL (no model instance: a history row has no
    behaviour of its own, and the batch completion writes its rows the same way)."""
    from django.db import connections, router

    from .job_status import _short

    using = router.db_for_write(model)
    connection = connections[using]
    sql = _HISTORY_SQL.get(using)
    if sql is None:
        ops = connection.ops
        columns = ", ".join(ops.quote_name(model._meta.get_field(name).column)
                            for name in _HISTORY_COLUMNS)
        sql = _HISTORY_SQL[using] = (
            f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(_HISTORY_COLUMNS))})")
    when = model._meta.get_field("time").get_db_prep_save(when, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [job_id, old, new, "", when, _short(reason), attempt, ""])
