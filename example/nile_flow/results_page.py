"""What a results page shows besides the raw result: the chart (server-drawn SVG, cached
per job result) and the numbers rounded for people."""

from __future__ import annotations

import functools
import hashlib
import json
import logging

from django.core.cache import cache
from django.utils.safestring import mark_safe

from . import formatting as fmt

logger = logging.getLogger(__name__)
CHART_VERSION = 1  # part of the cache key: bump when the charts' drawing changes


@functools.lru_cache(maxsize=1)
def _nile():
    from .analysis import load_nile

    return load_nile()


def _chart(job, result, draw):
    """``draw()``'s SVG, cached under the job and a digest of its result (a finished
    job's result does not change; a resubmitted one gets a new key). A chart that cannot
    be drawn is logged and left out: the page still shows the numbers."""
    digest = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()[:16]
    key = f"nile_flow:chart:{CHART_VERSION}:{job.pk}:{digest}"
    svg = cache.get(key)
    if svg is None:
        try:
            svg = draw()
        except Exception:  # noqa: BLE001 - a chart must not cost the page
            logger.exception("Job %s: drawing its chart failed", job.pk)
            return ""
        cache.set(key, svg, None)
    return mark_safe(svg)  # noqa: S308 - our own Matplotlib output, made CSP-safe


def context(job, result) -> dict:
    """The template context of ``job``'s results page for ``result`` (its stored result,
    or ``None``)."""
    out = {"run_time": fmt.duration(job.run_time)}
    if not result:
        return out
    from . import charts

    if "return_levels" in result:
        periods = sorted(result["return_levels"], key=int)
        out["levels"] = [
            {"period": period, "level": fmt.whole(result["return_levels"][period]),
             "low": fmt.whole(result["ci95"][period][0]),
             "high": fmt.whole(result["ci95"][period][1])}
            for period in periods]
        # The HTCondor workflow's combined result has no AIC or parameters.
        out["aic"] = fmt.whole(result["aic"]) if "aic" in result else ""
        out["parameters"] = (fmt.parameters(result["distribution"], result["params"])
                             if "params" in result else [])
        out["chart"] = _chart(job, result, lambda: charts.return_level_svg(result, _nile()[1]))
    elif "year" in result:
        out["change"] = {"year": result["year"], "before": fmt.whole(result["mean_before"]),
                         "after": fmt.whole(result["mean_after"]),
                         "explained": fmt.percent(result["explained_variance"])}
        out["chart"] = _chart(job, result, lambda: charts.change_point_svg(result, *_nile()))
    return out
