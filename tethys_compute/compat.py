"""Small shims across the supported Django versions (4.2, 5.2, 6.x)."""

import django
from django.db import models


def check_constraint(condition, name):
    """A ``CheckConstraint``: Django 5.1 renamed ``check=`` to ``condition=`` and 6.0
    removed ``check=``."""
    key = "condition" if django.VERSION >= (5, 1) else "check"
    return models.CheckConstraint(**{key: condition, "name": name})
