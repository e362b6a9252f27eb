"""The client apps of tests/clients/apps are installed for these tests only: their app
classes are taken out of tethys_compute's app registry when imported, and put back for
each test here (other tests list every registered app's settings)."""

import pytest

from tethys_compute import app_base

from .apps import aquaveo, dask_tutorial, fimeval, gwdm

CLIENT_APPS = {cls.package: cls for cls in (
    dask_tutorial.DaskTutorial, gwdm.Gwdm, aquaveo.Atcore, aquaveo.Tribs, fimeval.FimEval)}
for _package in CLIENT_APPS:
    app_base._registry.pop(_package, None)


@pytest.fixture(autouse=True)
def _client_apps_installed():
    app_base._registry.update(CLIENT_APPS)
    yield
    for package in CLIENT_APPS:
        app_base._registry.pop(package, None)
