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


requires_postgres = pytest.mark.skipif(
    os.environ.get("TETHYS_TEST_DB") != "postgres",
    reason="runs in the PostgreSQL pass (make test DB=postgres)",
)
