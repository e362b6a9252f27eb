"""Template tags of the job admin: ``{% job_date_hierarchy cl %}``, ``cl|shown_count``."""

import inspect

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from ..admin.bounded import shown_count
from ..admin.date_hierarchy import date_hierarchy

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


@register.filter(name="shown_count")
def shown_count_filter(cl):
    """The changelist as its count should be shown: "more than 10,000" past
    ``COUNT_LIMIT`` (``tethys_compute.admin.bounded``)."""
    return shown_count(cl)
