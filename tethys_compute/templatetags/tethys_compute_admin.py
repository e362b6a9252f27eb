"""Template tags of the job admin: ``{% job_date_hierarchy cl %}``."""

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from ..admin.date_hierarchy import date_hierarchy

register = template.Library()


@register.tag(name="job_date_hierarchy")
def job_date_hierarchy_tag(parser, token):
    """Django's date drill-down, with choices that cost no per-row query."""
    return InclusionAdminNode(parser, token, func=date_hierarchy,
                              template_name="date_hierarchy.html", takes_context=False)
