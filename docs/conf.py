"""Sphinx configuration for tethys_compute's documentation."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

project = "tethys_compute"
author = "the tethys_compute developers"
copyright = "2026, the tethys_compute developers"
release = __import__("tethys_compute").__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # Django's per-model exceptions and overridden ORM plumbing add nothing here.
    "exclude-members": "DoesNotExist, MultipleObjectsReturned, refresh_from_db, from_db",
}
autodoc_typehints = "none"
intersphinx_mapping = {}
exclude_patterns = ["_build", "deploy"]
html_theme = "alabaster"
html_static_path = []
nitpicky = False
