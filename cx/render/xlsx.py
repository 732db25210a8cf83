"""XLSX export: one formatted sheet per report section, traffic-light colours as conditional formatting.

Every text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) is written with a
leading apostrophe (:func:`nlp.labeled.cells.safe_cell`), and all cells are written as values, never formulas.
"""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .tables import neutralize, section_table

RED, YELLOW, GREEN = "F4B6B6", "FBE3A0", "B9E2B5"
HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
#: (sheet title, section) in workbook order
SHEETS = [("Summary", None), ("Shortlist", "shortlist"), ("Companies", "companies"), ("Contacts", "contacts"),
          ("Matrix", "matrix"), ("Touchpoints", "touchpoints"), ("Strengths", "strengths"),
          ("Weaknesses", "weaknesses"), ("Suggestions", "suggestions"), ("Risks", "risks"), ("Waves", "waves"),
          ("Trends", "trends"), ("Segments", "segments"), ("Questions", "questions"), ("Labels", "labels"),
          ("Data errors", "errors")]
WIDE = {"quotes", "questions", "comment", "quote_1", "quote_2", "quote_3", "action", "message", "negative_touchpoints"}


def _fill(color: str) -> PatternFill:
    return PatternFill("solid", fgColor=color, bgColor=color)


def _summary_rows(rep: dict) -> list[list]:
    s = rep["summary"]
    m = rep["meta"]
    rows: list[list] = [["cxlens report", m.get("source")], ["schema_version", rep["schema_version"]],
                        ["generated_at", m["generated_at"]], ["wave", m.get("current_wave")],
                        ["answers", s["n_answers"]], ["companies", s["n_companies"]], ["contacts", s["n_contacts"]],
                        ["comments", s["n_comments"]]]
    if "nps" in s:
        rows.append(["NPS", s["nps"]["value"], "95% CI", s["nps"]["ci_low"], s["nps"]["ci_high"], "n", s["nps"]["n"]])
    if "csat" in s:
        rows.append(["CSAT %", s["csat"]["value"], "95% CI", s["csat"]["ci_low"], s["csat"]["ci_high"], "n",
                     s["csat"]["n"]])
    if "ces" in s:
        rows.append(["CES", s["ces"]["mean"], "95% CI", s["ces"]["ci_low"], s["ces"]["ci_high"], "n", s["ces"]["n"]])
    sat = s["satisfaction"]
    rows.append(["satisfaction (10)", sat["mean"], "95% CI", sat["ci_low"], sat["ci_high"], "n", sat["n"]])
    rows.append([])
    rows.extend([[h] for h in s.get("headline", [])])
    if rep["warnings"]:
        rows.append([])
        rows.extend([["warning", w] for w in rep["warnings"]])
    return rows


def _header_cells(ws, header: list[str]) -> list[WriteOnlyCell]:
    cells = []
    for h in header:
        c = WriteOnlyCell(ws, value=neutralize(h))
        c.font = Font(bold=True, color="FFFFFF")
        c.fill = HEADER_FILL
        c.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(c)
    return cells


def write_xlsx(report: dict, path: str | Path) -> None:
    """Write the workbook in openpyxl's streaming (write-only) mode: big reports have 100k-row sheets."""
    y_from = report["config"]["traffic_light"]["yellow_from"]
    g_from = report["config"]["traffic_light"]["green_from"]
    wb = Workbook(write_only=True)
    for title, section in SHEETS:
        ws = wb.create_sheet(title)
        if section is None:
            ws.column_dimensions["A"].width = 28
            ws.column_dimensions["B"].width = 60
            for k, r in enumerate(_summary_rows(report)):
                row = [neutralize(v) for v in r]
                if k == 0 and row:
                    first = WriteOnlyCell(ws, value=row[0])
                    first.font = Font(bold=True, size=14)
                    row[0] = first
                ws.append(row)
            continue
        header, rows = section_table(report, section)
        n = len(rows) + 1
        wrap = [h in WIDE for h in header] if n <= 5000 else [False] * len(header)
        for j, h in enumerate(header, 1):
            letter = get_column_letter(j)
            ws.column_dimensions[letter].width = 60 if h in WIDE else max(10, min(32, len(h) + 4))
            if n > 1 and h == "satisfaction":
                rng = f"{letter}2:{letter}{n}"
                ws.conditional_formatting.add(rng, CellIsRule(operator="lessThan", formula=[str(y_from)],
                                                              fill=_fill(RED)))
                ws.conditional_formatting.add(rng, CellIsRule(operator="between",
                                                              formula=[str(y_from), str(g_from - 1e-9)],
                                                              fill=_fill(YELLOW)))
                ws.conditional_formatting.add(rng, CellIsRule(operator="greaterThanOrEqual", formula=[str(g_from)],
                                                              fill=_fill(GREEN)))
            if n > 1 and h == "zone":
                rng = f"{letter}2:{letter}{n}"
                for word, color in (("red", RED), ("yellow", YELLOW), ("green", GREEN)):
                    ws.conditional_formatting.add(rng, FormulaRule(formula=[f'{letter}2="{word}"'], fill=_fill(color)))
            if n > 1 and h == "quadrant":
                rng = f"{letter}2:{letter}{n}"
                ws.conditional_formatting.add(rng, FormulaRule(formula=[f'{letter}2="A"'], fill=_fill(RED)))
                ws.conditional_formatting.add(rng, FormulaRule(formula=[f'{letter}2="C"'], fill=_fill(GREEN)))
        ws.freeze_panes = "A2"
        if n > 1:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{n}"
        ws.append(_header_cells(ws, header))
        wrapped = Alignment(wrap_text=True, vertical="top")
        for r in rows:
            vals = [neutralize(v) for v in r]
            if any(wrap):
                for j, w in enumerate(wrap):
                    if w and vals[j] is not None:
                        c = WriteOnlyCell(ws, value=vals[j])
                        c.alignment = wrapped
                        vals[j] = c
            ws.append(vals)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
