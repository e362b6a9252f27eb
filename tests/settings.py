"""Settings of the tiny test project.

SQLite by default; ``TETHYS_TEST_DB=postgres`` uses PostgreSQL at ``PGHOST``/``PGPORT``
(``make test DB=postgres`` starts a throwaway server on 127.0.0.1).
"""

import os
import tempfile
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tethys_compute",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
if django.VERSION >= (6, 0):
    # Django 6's Content Security Policy middleware. SECURE_CSP is not set, so no page gets
    # a policy unless its view sets one (csp_override), as the strict-CSP browser test does.
    MIDDLEWARE.append("django.middleware.csp.ContentSecurityPolicyMiddleware")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR.parent / "example" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("TETHYS_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": int(os.environ.get("PGPORT", "55432")),
            "USER": os.environ.get("PGUSER", "postgres"),
            "NAME": os.environ.get("PGDATABASE", "tethys_compute"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("TETHYS_TEST_SQLITE_FILE", str(BASE_DIR / "test.sqlite3")),
            # A test database in a file of its own (one per test process), not Django's
            # shared-cache in-memory one: with the live server's threads, shared cache answers
            # "database table is locked" at once where a file waits (busy timeout), as a real
            # deployment's SQLite file does.
            # As docs/deployment.rst recommends: a writer's transaction takes the write lock
            # at BEGIN and waits up to the timeout for it. With SQLite's default (deferred)
            # transactions, a transaction that read first and then writes while another
            # process writes gets "database is locked" at once (a 500 for a Delete).
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": os.path.join(tempfile.gettempdir(),
                                          f"tethys_compute_test_{os.getpid()}.sqlite3")},
        }
    }

TETHYS_COMPUTE = {
    "WORKSPACES_ROOT": os.environ.get("TETHYS_TEST_WORKSPACES", str(BASE_DIR / ".workspaces")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"tethys_compute": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}

# Tests create many users: a fast hasher keeps fixtures cheap (never in production).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
