"""Which tests each database pass runs: the PostgreSQL pass leaves out the tests that
cannot reach the test database (they ran the same way in the SQLite pass)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collected(path, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("TETHYS_TEST_DB", "TETHYS_TEST_ALL")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "--collect-only", "-q", path], cwd=ROOT, capture_output=True,
                            text=True, env={**environ, **env}, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {line.split("::")[1] for line in result.stdout.splitlines() if "::" in line}


def test_the_postgresql_pass_runs_only_the_tests_that_reach_the_database():
    every = collected("tests/test_crypto.py")
    # Marked django_db, and not: pure functions of the settings.
    assert {"test_undecryptable_value_loads_as_none", "test_round_trip_and_prefix"} <= every
    on_postgres = collected("tests/test_crypto.py", TETHYS_TEST_DB="postgres")
    assert "test_undecryptable_value_loads_as_none" in on_postgres
    assert "test_plain_text_left_by_tethys_is_read_and_encrypted_on_save" in on_postgres
    assert "test_round_trip_and_prefix" not in on_postgres
    assert on_postgres < every
    assert collected("tests/test_crypto.py", TETHYS_TEST_DB="postgres", TETHYS_TEST_ALL="1") == every


def test_fixtures_that_set_the_database_up_count_as_reaching_it(request):
    from tests.conftest import uses_the_test_database

    class Item:
        def __init__(self, fixturenames):
            self.fixturenames = fixturenames

        def get_closest_marker(self, name):
            return None

    # db, transactional_db, admin_client, live_server: all set the test database up.
    assert uses_the_test_database(Item(["admin_client", "db", "django_db_setup"]))
    assert not uses_the_test_database(Item(["settings", "tmp_path", "live_project"]))
    assert not uses_the_test_database(request.node)  # this test itself
