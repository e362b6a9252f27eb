"""Test matrix: Python 3.10-3.13 x Django 4.2, 5.2 and 6.x (Django 6 needs Python 3.12+).

    nox                      # every pair
    nox -s "tests(python='3.12', django='6.0')"
    nox -s tests -- tests/models   # pass pytest arguments

CI runs the full suite on the default Python with Django 5.2 (`make test`); this matrix
covers the other pairs. Each session installs the package with the extras the whole suite
needs (all, test, demo).
"""

import nox

nox.options.reuse_existing_virtualenvs = True

DJANGO = {"4.2": "django>=4.2,<5.0", "5.2": "django>=5.2,<6.0", "6.0": "django>=6.0,<7.0"}
MATRIX = [
    ("3.10", "4.2"), ("3.10", "5.2"),
    ("3.11", "4.2"), ("3.11", "5.2"),
    ("3.12", "4.2"), ("3.12", "5.2"), ("3.12", "6.0"),
    ("3.13", "5.2"), ("3.13", "6.0"),
]


@nox.session
@nox.parametrize("python,django", MATRIX)
def tests(session, django):
    session.install("-e", ".[all,test,demo]", DJANGO[django])
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))
