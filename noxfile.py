"""Test matrix: Python 3.10-3.13 x Django 5.2 LTS and 6.x (Django 6 needs Python 3.12+).

    nox                      # every pair
    nox -s "tests(python='3.12', django='6')"
    nox -s tests -- tests/models   # pass pytest arguments

CI runs the full suite on the default Python with Django 5.2 (`make test`) and one Django
6 pair, ``tests(python='3.12', django='6')``, on SQLite; this matrix covers the other
pairs. Each session installs the package with the extras the whole suite needs (all,
test, demo). Python 3.14 joins the matrix once these machines have it (``pyenv versions``).
"""

import os
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True

# pyenv installs several Pythons, but its shims run only the selected ones ("pyenv: python3.12:
# command not found"): put each installed version's bin directory on PATH so nox finds them.
_PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
for _bin in sorted(_PYENV.glob("3.*/bin")):
    os.environ["PATH"] = f"{_bin}{os.pathsep}{os.environ.get('PATH', '')}"

DJANGO = {"5.2": "django>=5.2,<6.0", "6": "django>=6.0,<7.0"}
MATRIX = [
    ("3.10", "5.2"),
    ("3.11", "5.2"),
    ("3.12", "5.2"), ("3.12", "6"),
    ("3.13", "5.2"), ("3.13", "6"),
]


@nox.session
@nox.parametrize("python,django", MATRIX)
def tests(session, django):
    session.install("-e", ".[all,test,demo]", DJANGO[django])
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))
