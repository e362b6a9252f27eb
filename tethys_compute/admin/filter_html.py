"""The job changelist's filters written in Python, with the HTML of Django's template.

Django's ``{% admin_list_filter %}`` renders ``admin/filter.html`` for each filter: a
``<details>`` block with one list item per choice. The job changelist's filters list
about 130 choices (the first 100 owners, the apps, the statuses, the job types, the
dates), and the template engine spent about 130 function calls on each (issue 17:
more than on the 100 rows of the page). :func:`written_filters` gives the changelist's
``filters`` block each filter's HTML written once in Python, the same text as the
template gives (``tests/admin/test_filter_html.py`` compares them): the block, Django's
own for the Django version installed, then shows it through a one-variable template
(``tethys_compute/admin/written_filter.html``).

A filter with a template of its own (``spec.template``), a project that overrides
``admin/filter.html``, an engine without autoescaping, and a choice that is not a dict
with ``selected``, ``query_string`` and ``display`` keep Django's rendering.
"""

from __future__ import annotations

import html

from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaultfilters import iriencode
from django.utils.encoding import iri_to_uri

from .djangos_templates import djangos_engine

FILTER_TEMPLATE = "admin/filter.html"
WRITTEN_TEMPLATE = "tethys_compute/admin/written_filter.html"
#: The summary line of Django's template, rendered by the template engine (translation).
_SUMMARY = ("{% load i18n %}{% blocktranslate with filter_title=title %} By {{ filter_title }}"
            " {% endblocktranslate %}")
_KEYS = frozenset(("selected", "query_string", "display"))
_summaries: dict = {}  # engine -> compiled _SUMMARY


def _shown(value, context):
    """``{{ value }}`` (``render_value_in_context``); a plain text escaped directly, as
    Django's ``escape`` does (localization leaves a text as it is)."""
    if type(value) is str:
        return html.escape(value)
    return render_value_in_context(value, context)


def _summary(engine, title):
    compiled = _summaries.get(engine)
    if compiled is None:
        compiled = _summaries[engine] = engine.from_string(_SUMMARY)
    return compiled.render(Context({"title": title}, autoescape=True))


def filter_html(engine, title, choices):
    """What ``admin/filter.html`` renders for ``title`` and ``choices`` (dicts), or
    ``None`` when a choice is not one the writer knows."""
    if not all(isinstance(choice, dict) and _KEYS <= choice.keys() for choice in choices):
        return None
    context = Context(autoescape=True)
    shown = [f'\n<details data-filter-title="{_shown(title, context)}" open>'
             f"\n  <summary>\n    {_summary(engine, title)}\n  </summary>\n  <ul>\n  "]
    for choice in choices:
        selected = ' class="selected"' if choice["selected"] else ""
        link = choice["query_string"]
        link = html.escape(iri_to_uri(link)) if type(link) is str else _shown(
            iriencode(link), context)
        display = _shown(choice["display"], context)
        shown.append(f'\n    <li{selected}>\n    <a href="{link}">{display}</a></li>\n  ')
    shown.append("\n  </ul>\n</details>\n")
    return "".join(shown)


class WrittenFilter:
    """A filter whose HTML is written: ``{% admin_list_filter %}`` renders
    :data:`WRITTEN_TEMPLATE` (``{{ spec.html }}``) and asks no choices of it."""

    template = WRITTEN_TEMPLATE

    def __init__(self, spec, html):
        self._spec = spec
        self.html = html

    def choices(self, changelist):
        return []

    def __getattr__(self, name):
        return getattr(self._spec, name)


class WrittenFilters:
    """The changelist ``cl`` with its filters written (:class:`WrittenFilter`)."""

    def __init__(self, cl, specs):
        self._cl = cl
        self.filter_specs = specs

    def __getattr__(self, name):
        return getattr(self._cl, name)


def written_filters(cl):
    """``cl`` as the changelist's ``filters`` block sees it: each filter shown with
    Django's own ``admin/filter.html`` written in Python (see the module)."""
    specs = getattr(cl, "filter_specs", None)
    if not specs or not any(spec.template == FILTER_TEMPLATE for spec in specs):
        return cl
    engine = djangos_engine(FILTER_TEMPLATE)
    if engine is None:
        return cl
    from django.utils.safestring import SafeString

    written = []
    for spec in specs:
        html = None
        if spec.template == FILTER_TEMPLATE:
            html = filter_html(engine, spec.title, list(spec.choices(cl)))
        written.append(spec if html is None else WrittenFilter(spec, SafeString(html)))
    return WrittenFilters(cl, written)
