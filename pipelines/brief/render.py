"""The brief as one page: HTML (the email's body) and PDF (its attachment, fpdf2: pure Python).

Both show the same words, built once here: the KPI table (value, target, previous final week,
verdict, a 12-week trend with open periods drawn hollow), what drove each change, the data's health
and the registry's definitions as footnotes. No personal data: only aggregates, segments (plan,
deployment, country, device, new vs returning) and file paths.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from pipelines.brief.data import Brief, KpiLine, TrendPoint
from pipelines.brief.drivers import Driver
from pipelines.core.dimensions import DIMENSION_BY_NAME
from pipelines.core.stats import MIN_DENOMINATOR, MIN_NUMERATOR, MOVEMENT_LEVEL

DRIVERS_SHOWN = 3  # segments per KPI in the brief


def percentage_points(value: float) -> str:
    return f"{value * 100:+.1f} pp"


def change_text(line: KpiLine) -> str:
    if line.change is None:
        return ""
    if line.kpi.is_rate:
        return percentage_points(line.change)
    return ("+" if line.change >= 0 else "-") + line.kpi.format(abs(line.change))


def target_text(line: KpiLine) -> str:
    if line.target is None:
        return "no target"
    status = {True: "on track", False: "off track", None: "no value"}[line.on_track]
    return f"{line.kpi.format(line.target)} ({status})"


def period_text(line: KpiLine) -> str:
    if line.period_start is None:
        return "no final week yet"
    return f"{'cohort ' if line.kpi.dated_by == 'cohort' else ''}week of {line.period_start}"


def driver_text(line: KpiLine, driver: Driver) -> str:
    """One segment's part of a KPI's change, in words."""
    before = line.kpi.format(driver.before_rate)
    after = line.kpi.format(driver.after_rate)
    share = f", {driver.contribution / line.change:.0%} of the change" if line.change else ""
    return (
        f"{DIMENSION_BY_NAME[driver.dimension].label.lower()} = {driver.segment}: {percentage_points(driver.contribution)}{share} "
        f"(rate {before} -> {after}: {percentage_points(driver.rate_effect)}; "
        f"share of the denominator: {percentage_points(driver.mix_effect)})"
    )


def shown_drivers(line: KpiLine) -> list[Driver]:
    return line.drivers[:DRIVERS_SHOWN]


@dataclass(frozen=True)
class HealthText:
    title: str
    lines: list[str]


def health_text(brief: Brief) -> HealthText:
    h = brief.health
    lines = [f"Newest data (as_of): {brief.as_of:%Y-%m-%d %H:%M} UTC; freshness: {h.freshness}."]
    lines.append(f"Published runs: {h.runs}. Files: "
                 + (", ".join(f"{n:,} {status}" for status, n in h.files_by_status.items()) or "none landed")
                 + f"; rows rejected: {h.rows_rejected:,}.")
    lines += [f"Check {f.check_name} ({f.severity}) failed in {f.failures} run(s): {f.observed}" for f in h.failed_checks]
    if not h.failed_checks:
        lines.append("No check failed.")
    lines += [f"File {status}: {path} ({reason})" for status, path, reason in h.files_not_loaded]
    return HealthText(f"Data health, {h.start:%Y-%m-%d} to {h.end:%Y-%m-%d %H:%M} UTC", lines)


def footnotes(brief: Brief) -> list[str]:
    method = (f"Movement: pooled two-proportion z-test at {MOVEMENT_LEVEL:.0%} between the last two final weeks (complete cohorts, "
              f"closed weeks); no verdict under {MIN_DENOMINATOR} in a denominator or {MIN_NUMERATOR} in a numerator. "
              "Drivers: each segment's "
              "contribution = rate effect (its own rate) + mix effect (its share of the denominator).")
    return [f"[{i}] {line.kpi.label}: {line.kpi.definition}" for i, line in enumerate(brief.lines, 1)] + [method]


def title(brief: Brief) -> str:
    return f"KPI brief {brief.label}"


# ---- HTML ----------------------------------------------------------------------------------------


def trend_points(trend: list[TrendPoint], width: float, height: float) -> list[tuple[float, float, bool]]:
    """(x, y from the top, final) of each week with a value, scaled into a width x height box."""
    values = [p.value for p in trend if p.value is not None]
    if not values:
        return []
    low, span = min(values), (max(values) - min(values)) or 1.0
    step = width / max(len(trend) - 1, 1)
    return [(i * step, height - (p.value - low) / span * height, p.final) for i, p in enumerate(trend)
            if p.value is not None]


def _sparkline_svg(trend: list[TrendPoint], width: int = 120, height: int = 28) -> str:
    """The trend as inline SVG: a line through the values, final weeks filled, open ones hollow."""
    points = [(x, y + 3, final) for x, y, final in trend_points(trend, width, height - 6)]
    if not points:
        return ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{"#1f4e79" if final else "white"}" stroke="#1f4e79"/>'
        for x, y, final in points
    )
    return (f'<svg width="{width + 4}" height="{height}" viewBox="-2 0 {width + 4} {height}" role="img">'
            f'<polyline points="{path}" fill="none" stroke="#1f4e79" stroke-width="1"/>{dots}</svg>')


def render_html(brief: Brief) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(line.kpi.label)}<sup>{i}</sup><br><small>{e(period_text(line))}</small></td>"
        f"<td><b>{e(line.kpi.format(line.value))}</b><br><small>{e(line.counts)}</small></td>"
        f"<td>{e(target_text(line))}</td>"
        f"<td>{e(line.kpi.format(line.previous_value))}<br><small>{e(change_text(line))}</small></td>"
        f"<td>{e(line.verdict)}</td><td>{_sparkline_svg(line.trend)}</td></tr>"
        for i, line in enumerate(brief.lines, 1)
    )
    explained = [line for line in brief.lines if line.drivers]
    drivers = "".join(
        f"<h3>{e(line.kpi.label)}: {e(line.kpi.format(line.previous_value))} -> {e(line.kpi.format(line.value))} "
        f"({e(change_text(line))})</h3><ol>"
        + "".join(f"<li>{e(driver_text(line, d))}</li>" for d in shown_drivers(line)) + "</ol>"
        for line in explained
    ) or "<p>No KPI moved significantly.</p>"
    health = health_text(brief)
    notes = "".join(f"<li>{e(n)}</li>" for n in footnotes(brief))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title(brief))}</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;font-size:13px;color:#222;max-width:900px}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:4px;text-align:left;vertical-align:top}}
small{{color:#666}}h3{{font-size:13px;margin:8px 0 2px}}ol{{margin:2px 0}}.notes{{font-size:11px;color:#555}}</style>
</head><body>
<h1>{e(title(brief))}</h1>
<p>Week of {brief.week_start} (ISO {e(brief.label)}); data as of {brief.as_of:%Y-%m-%d %H:%M} UTC.
Each KPI shows its latest final week: the latest complete cohort for conversion KPIs, the latest closed week for the others.
Trend: the last 12 weeks, open weeks hollow.</p>
<table><thead><tr><th>KPI</th><th>Value</th><th>Target</th><th>Previous final week</th><th>Movement (99%)</th><th>Trend</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>What drove the change</h2>{drivers}
<h2>{e(health.title)}</h2><ul>{"".join(f"<li>{e(text)}</li>" for text in health.lines)}</ul>
<ol class="notes" style="list-style:none;padding:0">{notes}</ol>
</body></html>
"""


# ---- PDF -----------------------------------------------------------------------------------------

_PDF_REPLACEMENTS = str.maketrans({"—": "-", "–": "-", "’": "'", "“": '"', "”": '"', "…": "..."})


def _pdf_text(text: str) -> str:
    """The core PDF fonts hold Latin-1 only: dashes and quotes become their ASCII forms."""
    return text.translate(_PDF_REPLACEMENTS).encode("latin-1", "replace").decode("latin-1")


def _pdf_sparkline(pdf, trend: list[TrendPoint], x: float, y: float, width: float, height: float) -> None:
    points = [(x + px, y + py, final) for px, py, final in trend_points(trend, width, height)]
    if not points:
        return
    pdf.set_draw_color(31, 78, 121)
    pdf.set_line_width(0.2)
    pdf.polyline([(px, py) for px, py, _ in points])
    for px, py, final in points:
        pdf.set_fill_color(*((31, 78, 121) if final else (255, 255, 255)))
        pdf.circle(x=px, y=py, radius=0.6, style="FD")


def render_pdf(brief: Brief, path: Path) -> Path:
    """One A4 page (portrait), written to `path`."""
    from fpdf import FPDF  # imported when a brief is rendered, not when the definitions load

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=10)
    pdf.set_margins(12, 10, 12)
    pdf.add_page()
    pdf.set_title(title(brief))
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 8, _pdf_text(title(brief)), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 3.8, _pdf_text(
        f"Week of {brief.week_start}; data as of {brief.as_of:%Y-%m-%d %H:%M} UTC. Each KPI shows its latest final "
        "week (conversion KPIs: the latest complete cohort; the others: the latest closed week). Trend: the last "
        "12 weeks, open weeks hollow."), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    widths = (52, 22, 28, 24, 42, 18)
    pdf.set_font("Helvetica", "B", 8)
    for heading, width in zip(("KPI", "Value", "Target", "Previous final", "Movement (99%)", "Trend"), widths,
                              strict=True):
        pdf.cell(width, 5, heading, border="B")
    pdf.ln()
    for i, line in enumerate(brief.lines, 1):
        top = pdf.get_y()
        cells = (
            (f"{line.kpi.label} [{i}]", period_text(line)),
            (line.kpi.format(line.value), line.counts),
            (target_text(line), ""),
            (line.kpi.format(line.previous_value), change_text(line)),
            (line.verdict, ""),
        )
        x, bottom = pdf.l_margin, top
        for (main, sub), width in zip(cells, widths[:-1], strict=True):  # the last column: the trend
            pdf.set_xy(x, top)
            pdf.set_font("Helvetica", "B" if width == widths[1] else "", 8)
            pdf.multi_cell(width - 1, 3.6, _pdf_text(main), align="L", new_x="LEFT", new_y="NEXT")
            if sub:
                pdf.set_font("Helvetica", "", 6.5)
                pdf.set_text_color(100)
                pdf.multi_cell(width - 1, 3.2, _pdf_text(sub), align="L", new_x="LEFT", new_y="NEXT")
                pdf.set_text_color(0)
            bottom = max(bottom, pdf.get_y())
            x += width
        _pdf_sparkline(pdf, line.trend, x + 1, top + 1.5, widths[-1] - 3, 6)
        bottom = max(bottom + 1, top + 10)
        pdf.set_draw_color(220)
        pdf.line(pdf.l_margin, bottom, pdf.l_margin + sum(widths), bottom)
        pdf.set_xy(pdf.l_margin, bottom + 0.5)

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    def paragraph(text: str, size: float = 8) -> None:
        pdf.set_font("Helvetica", "", size)
        pdf.multi_cell(0, size * 0.45, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    heading("What drove the change")
    explained = [line for line in brief.lines if line.drivers]
    for line in explained:
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(0, 4.5, _pdf_text(f"{line.kpi.label}: {line.kpi.format(line.previous_value)} -> "
                                   f"{line.kpi.format(line.value)} ({change_text(line)})"), new_x="LMARGIN", new_y="NEXT")
        for n, driver in enumerate(shown_drivers(line), 1):
            paragraph(f"  {n}. {driver_text(line, driver)}")
    if not explained:
        paragraph("No KPI moved significantly.")
    health = health_text(brief)
    heading(health.title)
    for text in health.lines:
        paragraph(text)
    pdf.ln(2)
    pdf.set_text_color(90)
    for note in footnotes(brief):
        paragraph(note, 6.5)
    pdf.set_text_color(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
