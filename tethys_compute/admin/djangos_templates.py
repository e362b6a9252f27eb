"""Whether an admin template name resolves to Django's own file: the job changelist
writes some of Django's admin templates' HTML in Python (``filter_html``, ``rows``),
only where the project has not overridden the template."""

from __future__ import annotations

from pathlib import Path

import django.contrib.admin
from django.template.loader import get_template

_ADMIN_TEMPLATES = (Path(django.contrib.admin.__file__).parent / "templates").resolve()
_origins: dict = {}  # (origin, name) -> whether it is Django's own file of that name


def djangos_engine(name):
    """The template engine that renders template ``name`` when ``name`` resolves to
    Django's own admin template and the engine escapes; ``None`` otherwise (a project's
    override, another engine, no autoescaping): then Django's rendering is kept."""
    template = get_template(name)
    inner = getattr(template, "template", None)
    origin = getattr(getattr(inner, "origin", None), "name", None)
    if not origin or not getattr(inner.engine, "autoescape", False):
        return None
    djangos = _origins.get((origin, name))
    if djangos is None:
        djangos = _origins[(origin, name)] = Path(origin).resolve() == _ADMIN_TEMPLATES / name
    return inner.engine if djangos else None
