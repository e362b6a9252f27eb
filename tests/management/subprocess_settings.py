"""The tests' settings, for `python manage.py` subprocesses started by the tests: the
database name comes from TC_SUBPROCESS_DB (a throwaway SQLite file, or the PostgreSQL
test database of the running test session); TC_SUBPROCESS_NO_ADMIN=1 leaves
django.contrib.admin out, as a project without the admin would."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

DATABASES = {"default": {**DATABASES["default"], "NAME": os.environ["TC_SUBPROCESS_DB"]}}

if os.environ.get("TC_SUBPROCESS_NO_ADMIN") == "1":
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django.contrib.admin"]
    ROOT_URLCONF = "tethys_compute.urls"
