"""The accuracy report: one self-contained HTML page (tables and inline SVG plots)
that a planner can read and archive."""
from __future__ import annotations

import numpy as np


def _fmt(value, digits=3, percent=False):
    if value is None:
        return "undefined"
    return f"{100 * value:.1f} %" if percent else f"{value:.{digits}f}"


def _svg_matrix(matrix):
    """2 x 2 confusion matrix as an SVG heat map."""
    m = np.asarray(matrix, float)
    top = m.max() or 1.0
    cells = []
    labels = ("other", "green space")
    for r in range(2):
        for c in range(2):
            share = m[r, c] / top
            shade = int(245 - 160 * share)
            colour = f"rgb({shade},{min(255, shade + 20)},{shade})"
            x, y = 110 + 110 * c, 40 + 70 * r
            cells.append(f'<rect x="{x}" y="{y}" width="106" height="66" fill="{colour}"/>'
                         f'<text x="{x + 53}" y="{y + 38}" text-anchor="middle" '
                         f'font-size="15">{int(m[r, c]):,}</text>')
    heads = "".join(
        f'<text x="{163 + 110 * i}" y="32" text-anchor="middle" font-size="12">map: '
        f'{labels[i]}</text><text x="104" y="{78 + 70 * i}" text-anchor="end" '
        f'font-size="12">reference: {labels[i]}</text>' for i in range(2))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="340" height="190">'
            f'{heads}{"".join(cells)}</svg>')


def _svg_bars(metrics):
    """Precision / recall / F1 / IoU of both classes as horizontal bars."""
    rows = []
    y = 10
    for cls, colour in (("green", "#38a800"), ("other", "#8c8c8c")):
        for key in ("precision", "recall", "f1", "iou"):
            value = metrics[cls][key]
            width = 0 if value is None else 260 * value
            rows.append(f'<text x="150" y="{y + 12}" text-anchor="end" font-size="12">'
                        f'{cls} {key}</text><rect x="156" y="{y}" width="{width:.1f}" '
                        f'height="15" fill="{colour}"/><text x="{160 + width:.1f}" '
                        f'y="{y + 12}" font-size="12">{_fmt(value)}</text>')
            y += 20
        y += 8
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="470" height="{y}">'
            f'{"".join(rows)}</svg>')


def html_report(title, sources: dict, matrix, metrics, pixel_area=None,
                area_unit="map units²", stratified=None, warnings=()) -> str:
    """A self-contained HTML report (tables + inline SVG plots) a planner can read."""
    import datetime
    import html
    (tn, fp), (fn, tp) = np.asarray(matrix).tolist()
    area = (lambda n: f"{n * pixel_area:,.0f}") if pixel_area else (lambda n: "")
    unit = html.escape(area_unit)
    unit_head = (f"<th>area mapped other ({unit})</th><th>area mapped green ({unit})</th>"
                 if pixel_area else "")
    src = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                  for k, v in sources.items())
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    rows = "".join(
        f"<tr><th>{name}</th><td>{_fmt(metrics[c]['precision'])}</td>"
        f"<td>{_fmt(metrics[c]['recall'])}</td><td>{_fmt(metrics[c]['f1'])}</td>"
        f"<td>{_fmt(metrics[c]['iou'])}</td><td>{metrics[c]['reference_count']:,}</td>"
        f"<td>{metrics[c]['map_count']:,}</td></tr>"
        for name, c in (("Green space", "green"), ("Other", "other")))
    strat = ""
    if stratified:
        def est(e, pct=True):
            if e.value is None:
                return "undefined"
            ci = e.ci95()
            return (f"{_fmt(e.value, percent=pct)} ± {_fmt(e.se, percent=pct)} "
                    f"(95 % CI {_fmt(ci[0], percent=pct)} – {_fmt(ci[1], percent=pct)})")
        def area_ci(c):
            if not pixel_area or c["area"].value is None:
                return ""
            return (f"{c['area'].value * pixel_area:,.0f} ± "
                    f"{1.96 * c['area'].se * pixel_area:,.0f}")
        cls_rows = "".join(
            f"<tr><th>{'Green space' if k == 1 else 'Other'}</th>"
            f"<td>{est(c['users_accuracy'])}</td><td>{est(c['producers_accuracy'])}</td>"
            f"<td>{_fmt(c['f1'])}</td><td>{est(c['area_proportion'])}</td>"
            f"<td>{area_ci(c)}</td></tr>"
            for k, c in sorted(stratified["classes"].items()))
        strat = (f"<h2>Stratified estimates (design-based, from the sample)</h2>"
                 f"<p>Overall accuracy {est(stratified['overall_accuracy'])}. "
                 "Areas and accuracies weighted by the stratum sizes (Olofsson et al. "
                 "2014; Stehman 2014): use these, not the mapped areas, for reporting.</p>"
                 "<table><tr><th></th><th>user's accuracy (precision)</th>"
                 "<th>producer's accuracy (recall)</th><th>F1</th>"
                 f"<th>area proportion</th><th>area ({html.escape(area_unit)}, ± 95 % CI)"
                 f"</th></tr>{cls_rows}</table>")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;
padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}.warn{{color:#a04000}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{datetime.date.today().isoformat()} · green space is the positive class ·
{metrics['n']:,} {'points' if stratified is not None or not pixel_area else 'pixels'}
compared</p>
<table>{src}</table>
{f'<h2>Warnings</h2><ul class="warn">{warn}</ul>' if warn else ''}
<h2>Summary</h2>
<p>Overall accuracy <b>{_fmt(metrics['overall_accuracy'], percent=True)}</b>,
F1 of green space <b>{_fmt(metrics['green']['f1'])}</b>,
Cohen's kappa <b>{_fmt(metrics['kappa'])}</b>.</p>
<h2>Confusion matrix</h2>
<table><tr><th>reference \\ map</th><th>other</th><th>green space</th>{unit_head}</tr>
<tr><th>other</th><td>{tn:,}</td><td>{fp:,}</td>{f'<td>{area(tn)}</td><td>{area(fp)}</td>' if pixel_area else ''}</tr>
<tr><th>green space</th><td>{fn:,}</td><td>{tp:,}</td>{f'<td>{area(fn)}</td><td>{area(tp)}</td>' if pixel_area else ''}</tr></table>
{_svg_matrix(matrix)}
<h2>Per-class accuracy</h2>
<table><tr><th></th><th>precision (user's)</th><th>recall (producer's)</th><th>F1</th>
<th>IoU</th><th>reference count</th><th>map count</th></tr>{rows}</table>
{_svg_bars(metrics)}
{strat}
</body></html>
"""
