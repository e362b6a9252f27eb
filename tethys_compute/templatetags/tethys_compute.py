"""Template tags of tethys_compute::

    {% load tethys_compute %}
    {% jobs_table_media %}      {# optional, in <head>: the table's CSS and script #}
    {% jobs_table options %}    {# a JobsTable #}

``{% gizmo options %}`` renders a ``JobsTable`` too, as Tethys's gizmo tag does. The
table's CSS and script (namespaced static files, no CDN, no jQuery) are included with
the first table of a page unless ``{% jobs_table_media %}`` already did.
"""

from django import template
from django.template.loader import render_to_string

from ..jobs_table.options import JobsTable

register = template.Library()

_MEDIA_DONE = "_tethys_compute_jobs_table_media"


def _claim_media(context) -> bool:
    """True the first time a page asks for the table's media (per request)."""
    request = context.get("request")
    if request is None:
        return True
    if getattr(request, _MEDIA_DONE, False):
        return False
    setattr(request, _MEDIA_DONE, True)
    return True


@register.simple_tag(takes_context=True)
def jobs_table_media(context):
    """The ``<link>`` and ``<script>`` of the jobs table (once per page)."""
    if not _claim_media(context):
        return ""
    return render_to_string("tethys_compute/jobs_table/media.html")


@register.simple_tag(takes_context=True)
def jobs_table(context, options):
    """Render a jobs table from its :class:`~tethys_compute.gizmos.JobsTable` options.

    :raises TemplateSyntaxError: if ``options`` is not a ``JobsTable``.
    """
    if not isinstance(options, JobsTable):
        raise template.TemplateSyntaxError(
            f"jobs_table needs JobsTable options, not {type(options).__name__}."
        )
    csrf_token = context.get("csrf_token")
    table = options.get_context(
        context.get("request"),
        csrf_token=str(csrf_token) if csrf_token and str(csrf_token) != "NOTPROVIDED" else "",
    )
    table["include_media"] = _claim_media(context)
    return render_to_string("tethys_compute/jobs_table/table.html", table)


@register.simple_tag(takes_context=True)
def gizmo(context, options):
    """Tethys's ``{% gizmo options %}`` for the gizmos tethys_compute provides."""
    if getattr(options, "gizmo_name", None) == JobsTable.gizmo_name:
        return jobs_table(context, options)
    raise template.TemplateSyntaxError(
        f"tethys_compute renders only the jobs_table gizmo, not {options!r}."
    )
