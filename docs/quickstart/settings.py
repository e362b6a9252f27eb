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
