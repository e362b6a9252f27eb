import os

import pytest
from django.db import connection

# The test app's file-backed scheduler stand-in (tests/testapp/engine.py) and app
# processes (live server, monitors) on a shared database file (tests/testapp/live.py).
from tests.testapp.fixtures import fake_engine, live_project, live_template  # noqa: F401

# The HTCondor stand-in pool and the real-sshd fixtures (tests/htcondor_standin/fixtures.py)
# are shared by the Condor engine, model and admin tests.
pytest_plugins = ["tests.htcondor_standin.fixtures"]


@pytest.fixture(autouse=True)
def _workspaces(tmp_path, settings):
    """Every test gets its own workspaces root."""
    root = tmp_path / "workspaces"
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "WORKSPACES_ROOT": str(root)}
    return root


@pytest.fixture(autouse=True)
def _forget_synced_apps():
    from tethys_compute.app_base import forget_synced

    forget_synced()
    yield
    forget_synced()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw")


def is_postgres():
    return connection.vendor == "postgresql"


def uses_the_test_database(item):
    """Whether a test can reach the test database: marked ``django_db``, or using a fixture
    that sets the database up (``db``, ``transactional_db``, ``live_server``, ...).
    pytest-django refuses database access to any other test; their subprocesses run on
    SQLite files of their own (``live_project``, the demo), or on no database at all."""
    return item.get_closest_marker("django_db") is not None or "django_db_setup" in getattr(
        item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass runs the tests that reach the test database; the others would
    run exactly as they did in the SQLite pass (``TETHYS_TEST_ALL=1`` keeps them)."""
    if os.environ.get("TETHYS_TEST_DB") != "postgres" or os.environ.get("TETHYS_TEST_ALL"):
        return
    kept, dropped = [], []
    for item in items:
        (kept if uses_the_test_database(item) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


requires_postgres = pytest.mark.skipif(
    os.environ.get("TETHYS_TEST_DB") != "postgres",
    reason="runs in the PostgreSQL pass (make test DB=postgres)",
)
