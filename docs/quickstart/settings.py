# At the end of mysite/settings.py (startproject wrote the rest).
INSTALLED_APPS += [
    "bootstrap",       # Bootstrap 5's stylesheet, from django-bootstrap-static
    "tethys_compute",
    "my_app",          # made by `python manage.py startapp my_app`
]

TETHYS_COMPUTE = {
    "WORKSPACES_ROOT": str(BASE_DIR / "workspaces"),  # where job directories go
    "ENGINES": ["dask"],  # `manage.py check` reports a missing package
}

# The jobs page needs a login: while trying it, the admin's login form serves (staff users).
LOGIN_URL = "admin:login"

# Request lines in the web server's log would show a status token sent in a URL (as
# Tethys 4.6's reporters send it): this filter writes [redacted] in its place.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "tethys_compute.log_filters.RedactStatusTokens"}},
    "handlers": {
        "requests": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]},
    },
    "loggers": {
        # runserver's request lines (in production: your server's access log)
        "django.server": {"handlers": ["requests"], "level": "INFO", "propagate": False},
    },
}
