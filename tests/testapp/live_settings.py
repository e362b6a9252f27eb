"""Settings for app processes that tests start (a live server, monitors): the test
project's settings on the SQLite file named by TETHYS_TEST_SQLITE_FILE, with
``TETHYS_COMPUTE`` keys from the JSON in TESTAPP_TETHYS_COMPUTE, the URLconf named by
TESTAPP_ROOT_URLCONF (default the test project's), and request lines and
tethys_compute logs written to stderr through the token-redacting filter."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import ROOT_URLCONF, TETHYS_COMPUTE

ROOT_URLCONF = os.environ.get("TESTAPP_ROOT_URLCONF", ROOT_URLCONF)
TETHYS_COMPUTE = {**TETHYS_COMPUTE, **json.loads(os.environ.get("TESTAPP_TETHYS_COMPUTE", "{}"))}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "tethys_compute.log_filters.RedactStatusTokens"}},
    "formatters": {"plain": {"format": "%(name)s %(levelname)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "filters": ["redact_tokens"],
            "formatter": "plain",
        }
    },
    "loggers": {
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "tethys_compute": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
