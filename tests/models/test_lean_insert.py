"""A new job's ``save()`` (models/lean_insert.py): what it writes and what it costs.

Counted, not timed (the same at any load): the INSERTs name only the columns holding a
value, their SQL is built once per class and set of columns (Django's INSERT compiler
runs on the first save only), and the row stored is the one Django's own INSERT stores.
"""

from unittest import mock

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLInsertCompiler
from django.test.utils import CaptureQueriesContext

from tests.views.test_job_lookup import Compilations
from tethys_compute.job_manager import JobManager
from tethys_compute.models import BasicJob, TethysJob

pytestmark = pytest.mark.django_db(transaction=True)


class App:
    package = "lean_app"


def _new(user, name="job", **kwargs):
    return JobManager(App()).create_job(name=name, user=user, job_type="BASIC",
                                        description="d", extended_properties={"i": 1}, **kwargs)


def test_a_new_jobs_insert_is_compiled_once_per_class_and_columns(user):
    _new(user, "first").save()
    with Compilations(SQLInsertCompiler) as compiled, CaptureQueriesContext(connection) as queries:
        for i in range(3):
            _new(user, f"next{i}").save()
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 6, inserts  # the job's row and its BasicJob row, each time
    assert compiled.count == 0


def test_the_row_stored_is_the_one_django_stores(user):
    """Every column of a row saved through the built-once INSERT equals the column of the
    same job saved through Django's own INSERT compiler."""
    _new(user, "warm").save()
    fast = _new(user, "same", status_message="m", progress=5)
    fast.save()
    with mock.patch("tethys_compute.models.lean_insert._STATEMENTS", {}), \
            mock.patch("tethys_compute.models.lean_insert._fast_path", return_value=None):
        slow = _new(user, "same", status_message="m", progress=5)
        slow.save()
    columns = [f.column for f in TethysJob._meta.concrete_fields
               if f.column not in ("id", "creation_time", "workspace")]  # each its own
    rows = {}
    with connection.cursor() as cursor:
        for job in (fast, slow):
            cursor.execute(f'SELECT {", ".join(connection.ops.quote_name(c) for c in columns)} '
                           f'FROM "{TethysJob._meta.db_table}" WHERE id = %s', [job.pk])
            rows[job.pk] = cursor.fetchone()
    assert rows[fast.pk] == rows[slow.pk]
    assert BasicJob.objects.filter(pk__in=[fast.pk, slow.pk]).count() == 2
    assert fast.pk and slow.pk and fast.creation_time is not None
    loaded = TethysJob.objects.get_subclass(pk=fast.pk)
    assert loaded.extended_properties == {"i": 1} and loaded.progress == 5
    assert loaded.creation_time == fast.creation_time


def test_a_new_job_changed_after_its_save_writes_the_change(user):
    """The saved values are kept as the job's stored state: a later change of the caller's
    dict (never read through the job) is still seen."""
    props = {"a": 1}
    job = JobManager(App()).create_job(name="p", user=user, job_type="BASIC",
                                       extended_properties=props)
    job.save()
    props["b"] = 2
    job.save()
    assert TethysJob.objects.get(pk=job.pk).extended_properties == {"a": 1, "b": 2}


def test_a_status_history_rows_insert_is_compiled_once(user):
    """A status change's history row (one per change: ``execute()``, every refresh that
    changes a status) goes through the built-once INSERT too: no INSERT compiler per
    change, and the row stored is the one Django's own INSERT stores."""
    from django.utils import timezone

    from tethys_compute.models import JobStatusChange

    job = _new(user, "history")
    job.save()
    when = timezone.now()

    def change(reason):
        row = JobStatusChange(job_id=job.pk, old_status="PEN", new_status="RUN",
                              other_status="", time=when, reason=reason, attempt=None,
                              failure_kind="")
        row.save(force_insert=True)
        return row

    first = change("first")
    with Compilations(SQLInsertCompiler) as compiled:
        rows = [change(f"next{i}") for i in range(3)]
    assert compiled.count == 0
    assert len({first.pk, *(row.pk for row in rows)}) == 4
    django_row = JobStatusChange(job_id=job.pk, old_status="PEN", new_status="RUN",
                                 time=when, reason="next0")
    with mock.patch("tethys_compute.models.lean_insert._fast_path", return_value=None):
        django_row.save(force_insert=True)
    stored = JobStatusChange.objects.filter(pk__in=[rows[0].pk, django_row.pk]).values(
        "job_id", "old_status", "new_status", "other_status", "time", "reason", "attempt",
        "failure_kind")
    assert stored[0] == stored[1]
