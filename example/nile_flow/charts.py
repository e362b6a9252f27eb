"""The results pages' charts: SVG drawn on the server with Matplotlib (the ``demo``
extra), made safe to inline under a strict Content Security Policy.

Matplotlib writes its styling as ``style="..."`` attributes and one ``<style>`` block,
which a policy without ``'unsafe-inline'`` in ``style-src`` blocks. Every property it
uses is also an SVG presentation attribute (``fill="..."``), which no policy restricts:
:func:`csp_safe_svg` rewrites them so, and drops the metadata and unreferenced ids.
"""

from __future__ import annotations

import io
import re
from html import escape

import numpy as np

#: The CSS properties Matplotlib's SVG backend writes, all SVG presentation attributes.
PRESENTATION = frozenset({
    "clip-path", "fill", "fill-opacity", "fill-rule", "font-family", "font-size",
    "font-style", "font-weight", "opacity", "stroke", "stroke-dasharray",
    "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
    "stroke-opacity", "stroke-width", "text-anchor", "dominant-baseline", "visibility",
})
BLUE, BAND, ORANGE, GREY = "#08519c", "#9ecae1", "#d94801", "#525252"


def _attributes(declarations: str) -> str:
    out = []
    for declaration in declarations.split(";"):
        if not declaration.strip():
            continue
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if name not in PRESENTATION:
            raise ValueError(f"SVG style property {name!r} has no presentation attribute")
        out.append(f' {name}="{value}"')
    return "".join(out)


def csp_safe_svg(svg: str, title: str) -> str:
    """Matplotlib's SVG as an inline ``<svg>`` element with no ``style`` attribute or
    ``<style>`` element, sized by its ``viewBox`` (CSS gives it its width), with
    ``role="img"`` and ``title`` as its accessible name.

    :raises ValueError: if Matplotlib wrote a style property that has no SVG presentation
        attribute (it would be lost).
    """
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    sheet = re.search(r"\s*<style type=\"text/css\">\*\{(.*?)\}</style>", svg, re.S)
    root_style = ""
    if sheet:  # "*{stroke-linejoin: round; ...}": inherited properties, onto the root
        root_style = _attributes(sheet.group(1))
        svg = svg[:sheet.start()] + svg[sheet.end():]
    svg = re.sub(r'\sstyle="([^"]*)"', lambda m: _attributes(m.group(1)), svg)
    referenced = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', svg))
    svg = re.sub(r'\sid="([^"]*)"',
                 lambda m: m.group(0) if m.group(1) in referenced or m.group(1).startswith("nf-")
                 else "", svg)
    svg = re.sub(r"\s*<defs>\s*</defs>", "", svg)
    opening = re.match(r"<svg\b[^>]*>", svg).group(0)
    view_box = re.search(r'viewBox="([^"]+)"', opening).group(1)
    new_opening = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{view_box}" class="nf-chart" role="img"{root_style}>'
        f"<title>{escape(title)}</title>")
    return new_opening + svg[len(opening):].strip()


def _figure():
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads

    figure = Figure(figsize=(7.2, 4.0), layout="constrained")
    return figure, figure.subplots()


def _render(figure, title: str) -> str:
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nile-flow",
                                "font.size": 10}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return csp_safe_svg(out.getvalue(), title)


def plotting_positions(volumes, tail="high"):
    """``(return periods, sorted volumes)`` of the observed years: Weibull plotting
    positions, T = (n + 1) / rank, ranked from the largest flow (floods) or the smallest
    (droughts)."""
    ordered = np.sort(np.asarray(volumes, dtype=float))
    if tail == "high":
        ordered = ordered[::-1]
    ranks = np.arange(1, ordered.size + 1)
    return (ordered.size + 1) / ranks, ordered


def _curve(result, volumes):
    """The result's return-level curve ``(periods, level, low, high)``; for a result
    stored without one, the fitted curve from its parameters (fitted to ``volumes`` when
    it has none, as the HTCondor workflow's) and no band."""
    curve = result.get("curve")
    if curve:
        return (np.array(curve["periods"]), np.array(curve["level"]), np.array(curve["low"]),
                np.array(curve["high"]))
    from scipy import stats

    from .analysis import _quantiles_for, curve_periods

    periods = np.array(curve_periods([int(p) for p in result["return_levels"]]))
    dist = getattr(stats, result["distribution"])
    params = result.get("params") or dist.fit(np.asarray(volumes, dtype=float))
    level = _quantiles_for(dist, params, periods, result.get("tail", "high"))
    return periods, level, None, None


def return_level_svg(result, volumes) -> str:
    """The fitted return-level curve of a frequency result with its bootstrap 95% band,
    the tabulated levels with their intervals, over the observed annual flows at their
    plotting positions; log return-period axis. Inline SVG (see :func:`csp_safe_svg`)."""
    from matplotlib.ticker import NullFormatter

    tail = result.get("tail", "high")
    figure, ax = _figure()
    periods, level, low, high = _curve(result, volumes)
    if low is not None:
        ax.fill_between(periods, low, high, color=BAND, alpha=0.7, linewidth=0,
                        label="95% bootstrap band", gid="nf-band")
    ax.plot(periods, level, color=BLUE, linewidth=2,
            label=f"{result['distribution']} fit", gid="nf-fitted-curve")
    observed_t, observed = plotting_positions(volumes, tail)
    ax.plot(observed_t, observed, "o", markersize=3.5, color=ORANGE, alpha=0.85,
            label="observed years (Weibull positions)", gid="nf-observed")
    tabulated = sorted(int(p) for p in result["return_levels"])
    levels = [result["return_levels"][str(p)] for p in tabulated]
    intervals = np.array([result["ci95"][str(p)] for p in tabulated]).T
    bars = ax.errorbar(tabulated, levels, yerr=[np.subtract(levels, intervals[0]),
                                                np.subtract(intervals[1], levels)],
                       fmt="s", color=BLUE, markersize=5, capsize=3, linewidth=1,
                       label="tabulated periods, 95% CI")
    bars.lines[0].set_gid("nf-return-levels")
    for period, value in zip(tabulated, levels, strict=True):
        ax.annotate(f"{value:,.0f}", (period, value), textcoords="offset points",
                    xytext=(6, -12 if tail == "low" else 6), fontsize=8, color=BLUE)
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= periods[-1]]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(1, periods[-1])
    kind = "Flood" if tail == "high" else "Drought (low-flow)"
    ax.set_xlabel(f"Return period (years): {kind.lower()} exceeded once in T years"
                  if tail == "high" else "Return period (years): flow undershot once in T years")
    ax.set_ylabel("Annual flow (10⁸ m³)")
    ax.grid(True, which="major", color="#d9d9d9", linewidth=0.6)
    ax.legend(loc="upper left" if tail == "high" else "upper right", fontsize=8,
              frameon=False)
    ax.set_title(f"{kind} frequency of the Nile at Aswan, {result['distribution']} fit "
                 f"({result.get('n_boot', '?')} resamples)", fontsize=10)
    return _render(figure, f"{kind} return levels, {result['distribution']} fit, with "
                           "95% bootstrap band and observed years")


def change_point_svg(result, years, volumes) -> str:
    """The annual series with the mean before and after the change point, and the
    change point's year. Inline SVG (see :func:`csp_safe_svg`)."""
    figure, ax = _figure()
    years = np.asarray(years, dtype=float)
    ax.plot(years, volumes, "-o", color=GREY, markersize=2.5, linewidth=0.8,
            label="annual flow", gid="nf-series")
    year = result["year"]
    first, last = years[0], years[-1]
    means = ax.plot([first, year - 0.5, np.nan, year - 0.5, last],
                    [result["mean_before"], result["mean_before"], np.nan,
                     result["mean_after"], result["mean_after"]],
                    color=BLUE, linewidth=2.2, label="mean before and after")
    means[0].set_gid("nf-means")
    ax.axvline(year - 0.5, color=ORANGE, linestyle="--", linewidth=1.4,
               label=f"change point ({year})", gid="nf-change-point")
    label = {"textcoords": "offset points", "color": BLUE, "fontsize": 8, "ha": "center",
             "bbox": {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none",
                      "alpha": 0.85}}
    ax.annotate(f"mean {result['mean_before']:,.0f}",
                ((first + year) / 2, result["mean_before"]), xytext=(0, -16), **label)
    ax.annotate(f"mean {result['mean_after']:,.0f}",
                ((year + last) / 2, result["mean_after"]), xytext=(0, -16), **label)
    ax.set_xlabel("Year")
    ax.set_ylabel("Annual flow (10⁸ m³)")
    ax.grid(True, color="#d9d9d9", linewidth=0.6)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title(f"The Nile at Aswan, {int(first)}–{int(last)}: shift in the mean in {year}",
                 fontsize=10)
    return _render(figure, f"Annual flow of the Nile {int(first)} to {int(last)} with the "
                           f"change point in {year}")
