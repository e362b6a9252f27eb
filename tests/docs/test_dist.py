"""``make dist``: a wheel and an sdist that ``twine check`` accepts, the wheel holding
everything the app needs at run time (templates, static files, migrations, template tags),
the sdist the whole source tree (so the tests and docs can be run from it)."""

import os
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tests.docs.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TETHYS_TEST_DB") == "postgres",
                       reason="no database involved: runs in the SQLite pass"),
]


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return {line for line in out.splitlines() if line}


def test_twine_check_passes(dist):
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_wheel_holds_every_file_of_the_package(dist):
    wheel, _ = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    package = tracked("tethys_compute")
    assert package, "git ls-files found nothing"
    assert package <= names, sorted(package - names)
    # Run-time data, by kind (what a setuptools misconfiguration would drop).
    for part in ("templates/tethys_compute/jobs_table/table.html",
                 "static/tethys_compute/jobs_table/jobs_table.js",
                 "migrations/0001_initial_41.py", "templatetags/tethys_compute.py"):
        assert f"tethys_compute/{part}" in names
    assert not [n for n in names if n.startswith(("tests/", "example/", "docs/"))]


def test_the_sdist_holds_the_whole_source_tree(dist):
    _, sdist = dist
    with tarfile.open(sdist) as tar:
        names = {re.sub(r"^[^/]+/", "", n) for n in tar.getnames()}
    wanted = tracked() - tracked(".ci")
    assert wanted <= names, sorted(wanted - names)[:20]


def test_the_metadata_names_the_supported_versions(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
    assert re.search(r"^Requires-Dist: django>=5\.2$", text, re.M | re.I), text[:2000]
    classifiers = set(re.findall(r"^Classifier: (.*)$", text, re.M))
    assert "Framework :: Django :: 5.2" in classifiers
    assert "Framework :: Django :: 6.0" in classifiers
    assert "Framework :: Django :: 4.2" not in classifiers
    assert {f"Programming Language :: Python :: 3.{m}" for m in (10, 11, 12, 13)} <= classifiers


def test_make_dist_builds_and_checks_both(tmp_path):
    """The Makefile's recipe (printed, not run: it would install into .venv)."""
    result = subprocess.run(["make", "-n", "dist", f"DIST={tmp_path}"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"python -m build --outdir {tmp_path}", result.stdout), result.stdout
    assert re.search(rf"twine check --strict {tmp_path}/\*", result.stdout), result.stdout

