"""The tests' settings, for `python manage.py` subprocesses started by the tests: the
database name comes from TC_SUBPROCESS_DB (a throwaway SQLite file, or the PostgreSQL
test database of the running test session)."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES = {"default": {**DATABASES["default"], "NAME": os.environ["TC_SUBPROCESS_DB"]}}
