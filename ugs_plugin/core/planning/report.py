"""The planner reports of the indicators and change runs: one self-contained HTML page
each (inline SVG map and bar chart, the table, the method and its limits in plain
words), to read in a browser or QGIS's Results Viewer and to archive."""
from __future__ import annotations

import datetime
import html
import math

RAMP = ((247, 252, 245), (199, 233, 192), (116, 196, 118), (35, 139, 69), (0, 68, 27))
DIVERGING = ((202, 0, 32), (244, 165, 130), (247, 247, 247), (146, 197, 222),
             (5, 113, 176))
STYLE = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
         "padding:3px 7px;text-align:right}th{background:#f0f0f0}"
         "td:first-child{text-align:left}.limits li{margin:.3em 0}"
         ".below{color:#b30000;font-weight:bold}")


def _colour(t, ramp=RAMP):
    """Colour at 0..1 along a ramp."""
    if t is None or math.isnan(t):
        return "#dddddd"
    t = min(1.0, max(0.0, t)) * (len(ramp) - 1)
    i = min(int(t), len(ramp) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(ramp[i], ramp[i + 1]))
    return f"rgb({r},{g},{b})"


def _path(geometry, to_svg):
    parts = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.geom_type != "Polygon":
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            points = " L".join(f"{x:.1f},{y:.1f}" for x, y in map(to_svg, ring.coords))
            parts.append(f"M{points}Z")
    return " ".join(parts)


def svg_map(geometries, values, labels, low, high, title, ramp=RAMP, width=460,
            percent=False):
    """Zones coloured by value (low..high along the ramp), with their labels, a title
    and a legend; north up, in the zones' map units."""
    shown = [(g, v, lab) for g, v, lab in zip(geometries, values, labels)
             if g is not None and not g.is_empty]
    if not shown:
        return "<p>(no zone to draw)</p>"
    xs0, ys0, xs1, ys1 = zip(*(g.bounds for g, _, _ in shown))
    x0, y0, x1, y1 = min(xs0), min(ys0), max(xs1), max(ys1)
    scale = (width - 20) / max(x1 - x0, y1 - y0, 1e-9)
    height = int((y1 - y0) * scale) + 40

    def to_svg(xy):
        return 10 + (xy[0] - x0) * scale, 30 + (y1 - xy[1]) * scale
    tolerance = 0.5 / scale  # half a drawn pixel
    span = (high - low) or 1.0
    items = []
    for g, v, lab in shown:
        fill = _colour(None if v is None else (v - low) / span, ramp)
        items.append(f'<path d="{_path(g.simplify(tolerance), to_svg)}" fill="{fill}" '
                     f'stroke="#333" stroke-width="0.8" fill-rule="evenodd">'
                     f'<title>{html.escape(str(lab))}: {_number(v)}</title></path>')
    for g, _, lab in shown:
        x, y = to_svg(g.representative_point().coords[0])
        items.append(f'<text x="{x:.0f}" y="{y:.0f}" font-size="11" text-anchor="middle"'
                     f' stroke="white" stroke-width="3" paint-order="stroke">'
                     f'{html.escape(str(lab))}</text>')
    legend = "".join(
        f'<rect x="{width + 10}" y="{30 + 22 * k}" width="18" height="18" '
        f'fill="{_colour(k / 4, ramp)}" stroke="#333" stroke-width="0.5"/>'
        f'<text x="{width + 34}" y="{44 + 22 * k}" font-size="11">'
        + (f"{100 * (low + span * k / 4):.0f} %" if percent
           else _number(low + span * k / 4)) + '</text>' for k in range(5))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 110}" '
            f'height="{max(height, 150)}"><text x="10" y="18" font-size="13">'
            f'{html.escape(title)}</text>{"".join(items)}{legend}</svg>')


def svg_bars(labels, values, target=None, target_label="", percent=True):
    """Zones sorted by value as horizontal bars, with a vertical line at the target;
    bars under the target in red."""
    rows = sorted(((v, str(lab)) for lab, v in zip(labels, values) if v is not None),
                  reverse=True)
    if not rows:
        return "<p>(no value to chart)</p>"
    top = max([v for v, _ in rows] + [target or 0]) or 1.0
    y, bars = 24, []
    for v, lab in rows:
        w = 300 * v / top
        colour = "#c0392b" if target is not None and v < target else "#2e8b57"
        text = f"{100 * v:.1f} %" if percent else _number(v)
        bars.append(f'<text x="146" y="{y + 12}" text-anchor="end" font-size="12">'
                    f'{html.escape(lab[:22])}</text><rect x="152" y="{y}" '
                    f'width="{w:.1f}" height="15" fill="{colour}"/><text '
                    f'x="{156 + w:.1f}" y="{y + 12}" font-size="12">{text}</text>')
        y += 20
    line = ""
    if target is not None:
        x = 152 + 300 * target / top
        line = (f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{y}" stroke="#333" '
                f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="12" font-size="11" '
                f'text-anchor="middle">{html.escape(target_label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="540" height="{y + 6}">'
            f'{"".join(bars)}{line}</svg>')


def _number(v, digits=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.{digits}g}"


def _table(rows, columns):
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, kind in columns:
            v = row.get(key)
            text = ("n/a" if v is None else str(v) if kind == "text"
                    else f"{100 * v:.1f} %" if kind == "percent" else _number(v))
            css = ' class="below"' if key == "green_cover" and row.get(
                "below_cover_target") else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _page(title, sources, sections):
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>"
                    for k, v in sources.items())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{datetime.date.today().isoformat()}</p>"
            f"<ul>{items}</ul>{''.join(sections)}</body></html>")


def indicators_report(result, zone_geometries, map_path) -> str:
    request = result.request
    zones = result.zones
    labels = [z["id"] for z in zones]
    key = request.indicator
    values = [z[key] for z in zones]
    percent = key in ("green_cover", "share_within", "share_residents_within")
    finite = [v for v in values if v is not None]
    # Shares from 0 to the next tenth above the largest (at least 50 %), so the zones
    # do not all look pale on a 0-100 % ramp.
    low, high = ((0.0, max(0.5, math.ceil(10 * max(finite, default=0.0)) / 10))
                 if percent else (min(finite, default=0.0), max(finite, default=1.0)))
    from ..fields import indicator_zone_fields, INDICATORS
    ramp = RAMP if key != "mean_distance_m" else RAMP[::-1]
    target = request.cover_target
    sections = [
        "<h2>Map</h2>", svg_map(zone_geometries, values, labels, low, high,
                                INDICATORS[key], ramp, percent=percent),
        f"<h2>Green cover by zone against the {100 * target:.0f} % target</h2>",
        svg_bars(labels, [z["green_cover"] for z in zones], target,
                 f"{100 * target:.0f} %")]
    if request.buildings is not None:
        sections += [f"<h2>Buildings within {request.distance_m:g} m of a park "
                     f"({result.distance_kind})</h2>",
                     svg_bars(labels, [z["share_within"] for z in zones])]
    columns = [("id", "zone", "text")] + [
        (k, k.replace("_", " "), "percent" if k.startswith(("green_cover", "share"))
         else "number") for k in indicator_zone_fields(bool(request.population_field)) if k != "below_cover_target"]
    below = [str(z["id"]) for z in zones if z["below_cover_target"]]
    sections += [
        "<h2>Table</h2>", _table(zones, columns),
        f"<p>{len(below)} of {len(zones)} zone(s) below the {100 * target:.0f} % green "
        f"cover target{': ' + ', '.join(below[:30]) if below else ''}.</p>",
        "<h2>Method</h2><ul class='limits'>",
        "<li><b>Green cover</b> is the share of a zone's mapped pixels classed green "
        "space. The map does not separate trees from grass or shrubs, so this is green "
        "cover, not the tree canopy of the 3-30-300 rule; it is at most as good as the "
        "map (see its accuracy report).</li>",
        f"<li><b>Parks</b>: {html.escape(result.park_source)}. A patch is any group of "
        "green pixels touching by an edge or a corner: a street of trees with joined "
        "crowns can count as one; a park cut by a road counts as two.</li>"]
    if request.buildings is not None:
        sections += [
            f"<li><b>Access</b>: each building is measured from its point (a "
            f"footprint: its centroid, or a point inside it) to the edge of the nearest "
            f"park, {result.distance_kind}"
            + (", joining the roads at the road point nearest the building and "
               "entering a park from a road point within 25 m of it. Roads meet only "
               "where they share a vertex; paths missing from the road layer make "
               "distances too long." if request.network else
               "; real walks are longer (streets, fences, entrances).")
            + f" Within = at most {request.distance_m:g} m.</li>",
            "<li>Buildings are counted in every zone that contains their point; those "
            "in no zone are left out of the zones' figures.</li>"]
        if request.population_field:
            sections.append(f"<li>Residents: the field "
                            f"'{html.escape(request.population_field)}' of the "
                            "buildings.</li>")
    sections.append("</ul>")
    if result.warnings:
        sections.append("<h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in result.warnings) + "</ul>")
    return _page("Green-space indicators by zone (3-30-300)", {
        "map": map_path, "zones": request.zones.name,
        "buildings": request.buildings.name if request.buildings else "none",
        "roads": request.network.name if request.network else "none (straight line)",
        "indicator mapped": INDICATORS[key]}, sections)


def change_report(result, zone_geometries) -> str:
    request = result.request
    totals = result.totals
    sections = [
        "<h2>Whole map</h2>", _table([totals], [
            ("stable_green_m2", "stable green (m²)", "number"),
            ("gain_m2", "gain (m²)", "number"), ("loss_m2", "loss (m²)", "number"),
            ("net_m2", "net (m²)", "number"),
            ("stable_other_m2", "stable other (m²)", "number")])]
    if result.zones:
        labels = [z["id"] for z in result.zones]
        nets = [z["net_m2"] for z in result.zones]
        span = max([abs(v) for v in nets if v is not None] or [1.0])
        sections += [
            "<h2>Net change by zone</h2>",
            svg_map(zone_geometries, nets, labels, -span, span,
                    "net change (m²): red loss, blue gain", DIVERGING),
            "<h2>Zones</h2>", _table(result.zones, [
                ("id", "zone", "text"), ("green_a_m2", "green at A (m²)", "number"),
                ("green_b_m2", "green at B (m²)", "number"),
                ("gain_m2", "gain (m²)", "number"), ("loss_m2", "loss (m²)", "number"),
                ("net_m2", "net (m²)", "number"), ("gain_patches", "gain patches",
                                                    "number"),
                ("loss_patches", "loss patches", "number")])]
    sections += [
        "<h2>Method</h2><ul class='limits'>",
        f"<li>{html.escape(result.grid_note)}</li>",
        "<li>Change is the difference of two maps, so each map's errors add up: "
        "a pixel wrong in either map shows as gain or loss. Compare maps made by the "
        "same model from imagery of the same season; check large changes on the "
        "imagery before acting on them.</li>",
        "<li>Patches are groups of changed pixels touching by an edge or a corner; "
        "many one-pixel patches usually mean noise (edges of trees, shadows), not "
        "change.</li></ul>"]
    return _page("Green-space change", {"map A (before)": request.map_a,
                                        "map B (after)": request.map_b,
                                        "zones": request.zones.name if request.zones
                                        else "none"}, sections)
