"""Set up Django for a benchmark script: the test project's settings on a fresh SQLite
file (or PostgreSQL with TETHYS_TEST_DB=postgres), migrated."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup():
    sys.path.insert(0, str(ROOT))
    scratch = Path(tempfile.mkdtemp(prefix="tethys-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("TETHYS_TEST_SQLITE_FILE", str(scratch / "bench.sqlite3"))
    os.environ.setdefault("TETHYS_TEST_WORKSPACES", str(scratch / "workspaces"))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    return scratch


class QueryCounter:
    """Counts the SQL statements run inside a ``with`` block: ``total`` (data statements:
    SELECT, INSERT, UPDATE, DELETE), ``writes`` (INSERT, UPDATE, DELETE) and
    ``transaction`` (BEGIN, COMMIT, SAVEPOINT... that SQLite's driver issues around
    multi-table saves)."""

    CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")

    def __enter__(self):
        from django.db import connection

        self.total = self.writes = self.transaction = 0

        def count(execute, sql, params, many, context):
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb in self.CONTROL:
                self.transaction += 1
            else:
                self.total += 1
                self.writes += verb in ("INSERT", "UPDATE", "DELETE")
            return execute(sql, params, many, context)

        self._wrapper = connection.execute_wrapper(count)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)
