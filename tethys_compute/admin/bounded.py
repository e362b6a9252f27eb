"""The job changelist's count and search at a cost that does not grow with the jobs
(``tethys_compute.bounded``, shared with the jobs table).

The paginator counts at most ``COUNT_LIMIT`` jobs; past it the page says "more than
10,000 jobs" (pagination line and "Select all"), pages reach the first ``COUNT_LIMIT``
jobs, and the count beside the search box is left out. ``?q=`` matches a job's id, the
start of its name, and any words of its name or description among the newest
``SEARCH_WINDOW`` jobs of the filtered list (docs/admin.rst).

A page's rows are read in two steps in one statement: the ids of the page (the filtered,
ordered list, ``OFFSET``/``LIMIT``, reading the ids only, so that an index in the list's
order serves it), then those rows, with their type's table joined and their owner's
name, by primary key. Read in one step, every row skipped by the ``OFFSET`` or sorted
for the page was read whole, with its joins (issue 17: ``?status=active`` sorted 20,000
whole rows at 1,000,000 jobs, ``?p=50`` joined 4,900 rows it did not show).
"""

from __future__ import annotations

from urllib.parse import quote_plus

from django.contrib.admin.views.main import ChangeList
from django.db import connections
from django.db.models import QuerySet

from ..bounded import CappedPaginator, _IdInPage, count_text, search_jobs
from .page_fields import narrowed

#: A parameter value found once in a query string (digits: encoded as they are).
_STAND_IN = "7364519208374615"


class BoundedChangeList(ChangeList):
    """Django's changelist; with its count capped there is no "Show all" (it would list
    every job): ``?all=`` shows the page asked for."""

    def get_results(self, request):
        super().get_results(request)
        if self.paginator.more:
            if self.show_all and self.multi_page:
                self.result_list = self.paginator.page(
                    min(self.page_num, self.paginator.num_pages)).object_list
            self.can_show_all = False
        # The page's rows with only the fields its columns read (admin/page_fields.py),
        # from the admin's queryset the changelist already holds (Django keeps it as it
        # is: its filters are applied to copies).
        self.result_list = narrowed(page_by_ids(self.result_list, self.root_queryset), self)

    def get_query_string(self, new_params=None, remove=None):
        """Django's query string of the changelist with ``new_params`` set and the
        parameters starting with a text of ``remove`` left out. A filter asks one for
        each of its choices (the user filter: 100), each the same but for one value:
        for one new text or number, Django's text for a stand-in value is made once per
        parameter and the value's encoding (``quote_plus``, as Django's ``urlencode``
        encodes a text or a number) put in its place."""
        if remove or not new_params or len(new_params) != 1:
            return super().get_query_string(new_params, remove)
        ((key, value),) = new_params.items()
        if type(value) not in (str, int):
            return super().get_query_string(new_params, remove)
        known = self.__dict__.setdefault("_tc_query_strings", {})
        pattern = known.get(key)
        if pattern is None:
            parts = super().get_query_string({key: _STAND_IN}).split(_STAND_IN)
            pattern = known[key] = parts if len(parts) == 2 else False
        if not pattern:
            return super().get_query_string(new_params, remove)
        return f"{pattern[0]}{quote_plus(str(value))}{pattern[1]}"


def page_by_ids(page, rows):
    """The rows of ``page`` (a sliced queryset) read from ``rows`` (a queryset of the
    whole rows: joins, annotations) by a subquery of the page's ids, in ``page``'s order
    (see the module). Anything else is returned as it is."""
    if not isinstance(page, QuerySet) or not page.query.is_sliced:
        return page
    if connections[page.db].vendor == "postgresql":
        # ``id = ANY(ARRAY(page's ids))``: the ids are read once, as an InitPlan, and
        # each row is then looked up by key. With ``id IN (subquery)`` PostgreSQL may
        # join every job table whole before keeping the page's ids (8-13 s a page at
        # 1,000,000 jobs when whole rows are read). Still one query.
        return rows.filter(_IdInPage(page)).order_by(*page.query.order_by)
    ids = page.values("pk")
    return rows.filter(pk__in=ids).order_by(*page.query.order_by)


class ShownCount:
    """The changelist ``cl`` as its templates see it when its count stopped at the limit:
    ``result_count`` (and ``full_result_count``, so that the search box shows no second
    count) is the text "more than 10,000"; everything else is ``cl``'s own."""

    def __init__(self, cl):
        self._cl = cl
        self.result_count = self.full_result_count = count_text(cl.paginator.counted)

    def __getattr__(self, name):
        return getattr(self._cl, name)


def shown_count(cl):
    """``cl``, or a :class:`ShownCount` of it when its count is capped."""
    paginator = getattr(cl, "paginator", None)
    return ShownCount(cl) if getattr(paginator, "more", False) else cl


class BoundedChangelist:
    """ModelAdmin mixin: capped counts and bounded search (see the module)."""

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0,
                      allow_empty_first_page=True):
        return CappedPaginator(queryset, per_page, orphans, allow_empty_first_page)

    def get_search_results(self, request, queryset, search_term):
        # Words inside the window, as Django's admin search splits them; no joins, so
        # no duplicates.
        # The changelist's rows (own classes, owner annotated) of the matching jobs of
        # the filtered list (see search_jobs's ``into``).
        return search_jobs(queryset, search_term, words=True,
                           into=self.get_queryset(request)), False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        cl = context.get("cl") if context else None
        if cl is not None and getattr(cl.paginator, "more", False):
            # "All 10000 selected" would undercount: name the capped count.
            context["selection_note_all"] = (
                f"All {count_text(cl.paginator.counted)} selected")
        return response
