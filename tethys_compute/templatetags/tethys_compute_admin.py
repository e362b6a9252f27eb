"""Template tags of the job admin: ``{% job_date_hierarchy cl %}``, ``{% job_result_list cl %}``,
``cl|shown_count``, ``cl|written_filters``."""

import inspect

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from ..admin.bounded import shown_count
from ..admin.date_hierarchy import date_hierarchy
from ..admin.filter_html import written_filters
from ..admin.rows import result_list

register = template.Library()

# Django 6 added the tag's name as InclusionAdminNode's first argument (for its errors).
_NODE_TAKES_NAME = "name" in inspect.signature(InclusionAdminNode.__init__).parameters


@register.tag(name="job_date_hierarchy")
def job_date_hierarchy_tag(parser, token):
    """Django's date drill-down, with choices that cost no per-row query."""
    options = {"parser": parser, "token": token, "func": date_hierarchy,
               "template_name": "date_hierarchy.html", "takes_context": False}
    if _NODE_TAKES_NAME:
        options["name"] = "job_date_hierarchy"
    return InclusionAdminNode(**options)


@register.tag(name="job_result_list")
def job_result_list_tag(parser, token):
    """Django's ``{% result_list cl %}`` (same template, same HTML), its rows rendered with
    the per-column work done once per page (``tethys_compute.admin.rows``)."""
    options = {"parser": parser, "token": token, "func": result_list,
               "template_name": "change_list_results.html", "takes_context": False}
    if _NODE_TAKES_NAME:
        options["name"] = "job_result_list"
    return InclusionAdminNode(**options)


@register.filter(name="shown_count")
def shown_count_filter(cl):
    """The changelist as its count should be shown: "more than 10,000" past
    ``COUNT_LIMIT`` (``tethys_compute.admin.bounded``)."""
    return shown_count(cl)


@register.filter(name="written_filters")
def written_filters_filter(cl):
    """The changelist with each filter's HTML written in Python, the same as Django's
    ``admin/filter.html`` gives (``tethys_compute.admin.filter_html``)."""
    return written_filters(cl)
