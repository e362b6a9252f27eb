"""tethys_compute.W009: a SQLite jobs database running the rollback journal (issue 17)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.utils import ConnectionHandler

from tests.conftest import is_postgres
from tethys_compute.checks import check_sqlite_journal, journal_warning


@pytest.fixture
def unblocked(django_db_blocker):
    """Scratch connections of our own (not the test database) may connect."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def sqlite_file(tmp_path, unblocked):
    """``open_(options)``: a real connection to a scratch SQLite file with ``OPTIONS``."""
    handlers = []

    def open_(options):
        handler = ConnectionHandler({"default": {
            "ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "jobs.sqlite3"),
            "OPTIONS": options}})
        handlers.append(handler)
        return handler["default"]

    yield open_
    for handler in handlers:
        handler.close_all()


def test_rollback_journal_warns(sqlite_file):
    message = journal_warning(sqlite_file({}))
    assert message.id == "tethys_compute.W009"
    assert "journal_mode=delete" in message.msg and "PRAGMA journal_mode=WAL" in message.hint


def test_wal_by_init_command_does_not_warn(sqlite_file):
    conn = sqlite_file({"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"})
    assert journal_warning(conn) is None
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL


def test_example_project_uses_wal(tmp_path, unblocked):
    from example import settings as example

    options = example.DATABASES["default"]["OPTIONS"]
    handler = ConnectionHandler({"default": {**example.DATABASES["default"],
                                        "NAME": str(tmp_path / "ex.sqlite3")}})
    try:
        assert journal_warning(handler["default"]) is None, options
    finally:
        handler.close_all()


@pytest.mark.django_db
def test_registered_database_check_reads_the_jobs_database():
    assert check_sqlite_journal(databases=None) == []
    found = check_sqlite_journal(databases=["default"])
    if is_postgres():
        assert found == []
    else:  # the test settings keep SQLite's default journal
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
        assert [m.id for m in found] == (["tethys_compute.W009"] if mode == "delete" else [])


@pytest.mark.django_db
def test_monitor_reports_it_when_it_starts(fake_engine):
    out, err = StringIO(), StringIO()
    call_command("tethys_compute_monitor", "--once", skip_checks=False, stdout=out, stderr=err)
    if is_postgres():
        assert "W009" not in err.getvalue()
    else:
        assert "(tethys_compute.W009)" in err.getvalue()
    assert out.getvalue().startswith("tethys_compute monitor: checked ")
