import pytest
from django.db import connection


@pytest.fixture(scope="package", autouse=True)
def _forget_the_example_app(django_db_setup, django_db_blocker):
    """Importing the example app registers its TethysAppBase class process-wide (and a
    transactional test's flush re-syncs registered apps' settings): take both out again
    so the other tests see only the test project's app."""
    yield
    from tethys_compute import app_base
    from tethys_compute.models import SchedulerSetting

    app_base._registry.pop("nile_flow", None)
    with django_db_blocker.unblock():
        # Tests that use no database (the demo's signal tests, run alone) leave no tables.
        if SchedulerSetting._meta.db_table in connection.introspection.table_names():
            SchedulerSetting.objects.filter(app_package="nile_flow").delete()
