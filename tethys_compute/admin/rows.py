"""The job changelist's rows, rendered with the work per column done once per page.

Django's ``{% result_list %}`` finds, for every cell of every row, what the column is
(``lookup_field``), reverses the row's change URL and re-applies the preserved filters to
it (a ``resolve()`` per row), and renders each row's action checkbox through the form
widget templates: at 100 rows a page that is most of the changelist's time (issue 17).
:func:`result_list` gives the template the same context with the same HTML: each column
is looked up once, the change URL is reversed once (with a stand-in id, then the row's
id put in its place), and the checkbox is written directly. A changelist this does not
cover (editable rows, a popup, ``to_field``, ``list_display_links = None``) is left to
Django's own tag.
"""

from __future__ import annotations

import datetime
import html

from django.contrib.admin import ModelAdmin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from .djangos_templates import djangos_engine
from .page_fields import watch
from .row_dates import DateTimeText

#: The stand-in id reversed once per page (digits only: ``quote`` leaves them as they are).
_STAND_IN = "918273645546372819"


#: Django < 6: ``items_for_result`` shows a blank text as empty; Django 6's
#: ``display_for_value`` strips a (not safe) text itself instead.
_ITEMS_BLANK = display_for_value(" ", "-") == " "


def _escaped(value) -> str:
    """``conditional_escape(value)`` as text, without its lazy-argument wrapper: a value
    with ``__html__`` as it gives itself, any other through ``html.escape`` (what
    Django's ``escape`` calls)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _simple(cl) -> bool:
    """Whether ``cl`` is a changelist :func:`result_list` renders (else Django's tag)."""
    return not (cl.formset or cl.is_popup or cl.to_field or cl.list_display_links is None)


def _field(model_admin, name):
    """The model field shown by column ``name`` (``None`` for a callable, an admin method,
    a property or a related path, which go through Django's ``lookup_field``)."""
    if callable(name) or not isinstance(name, str) or "__" in name:
        return None
    if hasattr(model_admin, name) and name != "__str__":
        return None
    try:
        field = model_admin.model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.auto_created or field.is_relation:
        return None
    return field


def _field_cell(field, empty, avoid_link):
    """``obj -> text`` of a model field's column, as ``display_for_field`` shows it."""
    name = field.name
    if getattr(field, "flatchoices", None):
        try:
            choices = dict(field.flatchoices)
        except TypeError:
            choices = None
        if choices is not None:
            return lambda obj: choices.get(getattr(obj, name), empty)
    if isinstance(field, models.DateTimeField):
        text_of = DateTimeText()

        def date_time(obj):
            value = getattr(obj, name)
            if value in field.empty_values:
                return empty
            return text_of(value)
        return date_time
    if type(field) in (models.CharField, models.TextField, models.SlugField):
        def text(obj):
            value = getattr(obj, name)
            if isinstance(value, str) and value.strip() == "":
                value = ""
            if value in field.empty_values:
                return empty
            return str(value)
        return text

    def other(obj):
        value = getattr(obj, name)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        return display_for_field(value, field, empty, avoid_link=avoid_link)
    return other


def _lookup_cell(name, model_admin, empty, avoid_link):
    """``obj -> (text, nowrap)`` of a column Django resolves per row (``lookup_field``);
    a column that is a method of the admin is resolved once per page
    (:func:`_method_cell`)."""
    method_cell = _method_cell(name, model_admin, empty)
    if method_cell is not None:
        return method_cell
    return _each_row_cell(name, model_admin, empty, avoid_link)


def _method_cell(name, model_admin, empty):
    """``obj -> (text, nowrap)`` of column ``name`` when it is a method of the admin
    (Django's ``lookup_field`` finds that per row, after failing to find a field of that
    name, and ``display_for_value`` shows its value); ``None`` for any other column. A row
    of a subclass with a field named ``name`` is shown as Django shows it."""
    if not isinstance(name, str) or name == "__str__" or not hasattr(model_admin, name):
        return None
    if _field_of(model_admin.model, name) is not None:
        return None
    method = getattr(model_admin, name)
    if not callable(method) or isinstance(method, property):
        return None
    shown_empty = getattr(method, "empty_value_display", empty)
    boolean = getattr(method, "boolean", False)
    fallback = _each_row_cell(name, model_admin, empty, False)
    classes: dict = {}

    def cell(obj):
        cls = obj.__class__
        plain = classes.get(cls)
        if plain is None:
            plain = classes[cls] = _field_of(cls, name) is None
        if not plain:
            return fallback(obj)
        value = method(obj)
        if (value.__class__ is str or value.__class__ is SafeString) and not boolean \
                and value and value.strip() == value:
            # A text without blanks around it: shown as it is by every Django version
            # (str() keeps a SafeString safe).
            return value, False
        if _ITEMS_BLANK and isinstance(value, str) and value.strip() == "":
            value = ""
        return (display_for_value(value, shown_empty, boolean),
                isinstance(value, (datetime.date, datetime.time)))
    return cell


def _field_of(model, name):
    """``lookup_field``'s first step: the model's field ``name`` (not a generic foreign
    key, nor a foreign key's column name), or ``None``."""
    from django.contrib.admin.utils import FieldIsAForeignKeyColumnName, _get_non_gfk_field

    try:
        return _get_non_gfk_field(model._meta, name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        return None


def _each_row_cell(name, model_admin, empty, avoid_link):
    """``obj -> (text, nowrap)`` through Django's ``lookup_field`` for each row."""
    from django.contrib.admin.utils import lookup_field

    def cell(obj):
        try:
            f, attr, value = lookup_field(name, obj, model_admin)
        except ObjectDoesNotExist:
            return empty, False
        shown_empty = getattr(attr, "empty_value_display", empty)
        if _ITEMS_BLANK and isinstance(value, str) and value.strip() == "":
            value = ""
        if f is None or f.auto_created:
            boolean = getattr(attr, "boolean", False)
            if isinstance(attr, property) and hasattr(attr, "fget"):
                boolean = getattr(attr.fget, "boolean", False)
            return (display_for_value(value, shown_empty, boolean),
                    isinstance(value, (datetime.date, datetime.time)))
        if isinstance(f.remote_field, models.ManyToOneRel):
            related = getattr(obj, f.name)
            return (shown_empty if related is None else related), True
        return (display_for_field(value, f, shown_empty, avoid_link=avoid_link),
                isinstance(f, (models.DateField, models.TimeField)))
    return cell


def _checkbox_cell(cl):
    """``obj -> html`` of the action checkbox: the markup of Django's
    ``ModelAdmin.action_checkbox`` (a ``CheckboxInput``), written directly; an admin
    that overrides ``action_checkbox`` keeps its own."""
    if type(cl.model_admin).action_checkbox is not ModelAdmin.action_checkbox:
        return None
    label = gettext("Select this object for an action - {}")
    before, _, after = label.partition("{}")
    start = f'<input type="checkbox" name="{ACTION_CHECKBOX_NAME}" value="'
    middle = f'" class="action-select" aria-label="{escape(before)}'
    end = f'{escape(after)}">'
    pk_name = cl.lookup_opts.pk.attname

    def checkbox(obj):
        # Django's widget: value="{pk}" and the aria-label "... - {str(obj)}", escaped.
        return (f"{start}{html.escape(str(getattr(obj, pk_name)))}{middle}"
                f"{html.escape(str(obj))}"
                f"{end}")
    return checkbox


def _change_url(cl):
    """``pk -> escaped URL`` of a row's change page with the preserved filters, or
    ``None`` when the change page has no URL (Django then shows no link)."""
    class StandIn:
        pass

    stand_in = StandIn()
    setattr(stand_in, cl.pk_attname, _STAND_IN)
    try:
        url = cl.url_for_result(stand_in)
    except NoReverseMatch:
        return None
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts},
                                url)
    parts = url.split(_STAND_IN)
    if len(parts) != 2:
        return False  # the stand-in is not found once: reverse per row
    before, after = (escape(part) for part in parts)
    return lambda pk: f"{before}{html.escape(str(quote(pk)))}{after}"


def _columns(cl):
    """One ``obj -> html`` per column of ``cl.list_display``, in order."""
    model_admin = cl.model_admin
    default_empty = model_admin.get_empty_value_display()
    links = cl.list_display_links
    url_of = _change_url(cl)
    pk_name = cl.lookup_opts.pk.attname
    columns = []
    first = True
    for index, name in enumerate(cl.list_display):
        field_class = f"field-{admin_list._coerce_field_name(name, index)}"
        linked = (first and not links) or name in links
        field = _field(model_admin, name)
        checkbox = _checkbox_cell(cl) if name == "action_checkbox" else None
        if checkbox is not None:
            columns.append(lambda obj, checkbox=checkbox:
                           f'<td class="action-checkbox">{checkbox(obj)}</td>')
            continue
        if field is not None:
            text = _field_cell(field, default_empty, linked)
            nowrap = isinstance(field, (models.DateField, models.TimeField))
            classes = f"{field_class} nowrap" if nowrap else field_class

            def cell(obj, text=text, classes=classes):
                return text(obj), classes
        else:
            lookup = _lookup_cell(name, model_admin, default_empty, linked)
            plain = "action-checkbox" if name == "action_checkbox" else field_class

            def cell(obj, lookup=lookup, plain=plain):
                shown, nowrap = lookup(obj)
                return shown, f"{plain} nowrap" if nowrap else plain

        if linked:
            tag = "th" if first else "td"
            first = False

            def linked_cell(obj, cell=cell, tag=tag):  # noqa: B023 (url_of: one per page)
                shown, classes = cell(obj)
                shown = _escaped(shown)
                if url_of is None:
                    inner = shown
                elif url_of is False:
                    url = add_preserved_filters(
                        {"preserved_filters": cl.preserved_filters, "opts": cl.opts},
                        cl.url_for_result(obj))
                    inner = f'<a href="{escape(url)}">{shown}</a>'
                else:
                    inner = f'<a href="{url_of(getattr(obj, pk_name))}">{shown}</a>'
                return f'<{tag} class="{classes}">{inner}</{tag}>'
            columns.append(linked_cell)
        else:
            columns.append(lambda obj, cell=cell: _td(cell(obj)))
    return columns


def _td(shown_classes):
    shown, classes = shown_classes
    return f'<td class="{classes}">{_escaped(shown)}</td>'


def rows(cl):
    """The changelist's rows as Django's ``results(cl)`` gives them: one
    ``ResultList`` per row, here holding the row's cells as one piece of HTML."""
    columns = _columns(cl)
    return [admin_list.ResultList(None, [SafeString("".join(column(obj) for column in columns))])
            for obj in cl.result_list]


RESULTS_TEMPLATE = "admin/change_list_results.html"
#: What Django's ``admin/change_list_results.html`` writes between two rows' cells (its
#: loop's text, the same in Django 5.2 and 6.1): ``</tr>``, the loop's line breaks and
#: its empty ``{% if result.form ... %}``, then ``<tr>``.
_BETWEEN_ROWS = "</tr>\n\n\n<tr>"


def result_list(cl):
    """The context of ``admin/change_list_results.html``: Django's ``result_list``, with
    the rows from :func:`rows` when ``cl`` is a changelist it covers. With Django's own
    template, the rows are given as one item holding them all, joined with the text the
    template writes between two rows (its loop cost ~80 function calls per row)."""
    with watch(cl):  # the page's rows may hold only the fields its columns read
        if not _simple(cl):
            return admin_list.result_list(cl)
        headers = list(admin_list.result_headers(cl))
        results = rows(cl)
        if len(results) > 1 and djangos_engine(RESULTS_TEMPLATE) is not None:
            results = [admin_list.ResultList(None, [SafeString(
                _BETWEEN_ROWS.join(str(row[0]) for row in results))])]
        return {
            "cl": cl,
            "result_hidden_fields": [],
            "result_headers": headers,
            "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
            "results": results,
        }
