"""The job changelist's filters written in Python (admin/filter_html.py): the same page as
Django's ``admin/filter.html`` renders, in every language, with a project's own
``admin/filter.html`` still used."""

import re

import pytest
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.template.loader import get_template
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy, override

from tethys_compute.admin import filter_html
from tethys_compute.admin.bounded import BoundedChangeList

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tethys_compute_tethysjob_changelist")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture
def jobs(make_job):
    make_job("one")
    make_job("two", owner=get_user_model().objects.create_user('a<b>&"c\' d'))
    make_job("three", owner=get_user_model().objects.create_user("zoë"))


def rendered(client, query, monkeypatch, written):
    """(page without its CSRF token, templates rendered) of a changelist request."""
    if not written:  # Django's filter template and query strings
        monkeypatch.setattr(filter_html, "djangos_engine", lambda name: None)
        monkeypatch.setattr(BoundedChangeList, "get_query_string", ChangeList.get_query_string)
    names = []

    def seen(sender, template, **kwargs):
        names.append(template.name)

    template_rendered.connect(seen)
    try:
        response = client.get(CHANGELIST + query)
    finally:
        template_rendered.disconnect(seen)
        monkeypatch.undo()
    assert response.status_code == 200
    return CSRF.sub("", response.content.decode()), names


@pytest.mark.parametrize("query", ["", "?status=active", "?user__id__exact=2&o=3",
                                   "?failure_kind__exact=engine&_facets=1",
                                   "?completion_time__isnull=True&app=test_app&q=o"])
@pytest.mark.parametrize("language", ["en", "de", "ja"])
def test_the_page_is_the_one_djangos_template_gives(admin_client, jobs, query, language,
                                                    monkeypatch):
    admin_client.cookies["django_language"] = language
    djangos, djangos_templates = rendered(admin_client, query, monkeypatch, written=False)
    ours, our_templates = rendered(admin_client, query, monkeypatch, written=True)
    assert ours == djangos
    assert '<details data-filter-title="' in ours
    # Django rendered admin/filter.html once per filter; here it is written instead.
    assert djangos_templates.count("admin/filter.html") == 7
    assert "admin/filter.html" not in our_templates


def test_the_writer_gives_the_templates_text_for_any_choices():
    engine = filter_html.djangos_engine(filter_html.FILTER_TEMPLATE)
    assert engine is not None
    template = get_template(filter_html.FILTER_TEMPLATE)
    cases = [
        ("status", []),
        ('<b>"odd" & title</b>', [
            {"selected": True, "query_string": "?a=1&b=<2>", "display": gettext_lazy("All")},
            {"selected": 0, "query_string": mark_safe("?x=é&y='z'"), "display": mark_safe("<i>i</i>")},
            {"selected": "yes", "query_string": "?ü=%20 ", "display": 42},
            {"selected": None, "query_string": "", "display": 1234.5, "extra": "ignored"},
        ]),
    ]
    for language in ("en", "fr", "pt-br"):
        with override(language):
            for title, choices in cases:
                expected = template.render({"title": title, "choices": choices, "spec": None})
                assert filter_html.filter_html(engine, title, choices) == expected
    assert filter_html.filter_html(engine, "t", [{"display": "no link"}]) is None


def test_a_projects_own_filter_template_is_used(admin_client, jobs, settings, tmp_path):
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "filter.html").write_text(
        "<p class=own-filter>{{ title }}: {{ choices|length }}</p>")
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [str(tmp_path), *engine.get("DIRS", [])]
    settings.TEMPLATES = [engine, *settings.TEMPLATES[1:]]
    body = admin_client.get(CHANGELIST).content.decode()
    assert "<p class=own-filter>status:" in body
    assert "<details data-filter-title=" not in body


@pytest.mark.parametrize("query", ["", "?status=active&q=a b%26c&o=2.-7",
                                   "?user__id__exact=5&app=z%C3%B6e&_facets=1"])
def test_query_strings_are_djangos(admin_client, jobs, query):
    """A choice's query string made from a stand-in's (one per parameter) is the text
    Django's ChangeList.get_query_string gives, for any value and parameters."""
    cl = admin_client.get(CHANGELIST + query).context["cl"]
    asked = [({"user__id__exact": value}, None) for value in
             ("1", "42", 7, "a b&c=d", "zoë/ü?#", "", "7364519208374615x", " ")]
    asked += [({"status": "active"}, None), ({"status": None}, None),
              ({"status": "ERR"}, ["status"]), ({"app": ["x", "y"]}, None),
              ({"app": "a", "o": "1"}, None), ({}, ["user__id"]), (None, None),
              ({"q": True}, None), ({"p": 3}, [])]
    for new_params, remove in asked * 2:  # the second time from the known patterns
        assert cl.get_query_string(new_params, remove) == ChangeList.get_query_string(
            cl, new_params, remove), (new_params, remove)
