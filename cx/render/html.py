"""Self-contained HTML report: one file, no external resources (inline CSS, inline SVG charts).
All report text goes through Jinja2 autoescaping; only the SVG produced by :mod:`cx.render.charts` is
inserted as markup."""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

UI: dict[str, dict[str, str]] = {
    "ru": {"title": "Отчёт о клиентском опыте", "summary": "Итоги", "source": "Источник", "wave": "Волна",
           "generated": "Сформирован", "model": "Модель", "answers": "ответов", "companies": "Компании",
           "contacts": "Контактные лица", "comments": "комментариев", "nps": "NPS", "csat": "CSAT",
           "ces": "CES", "satisfaction": "Средняя удовлетворённость", "satisfaction10": "Средняя оценка (из 10)",
           "ci": "95% ДИ", "matrix": "Матрица удовлетворённости", "importance": "Важность",
           "performance": "Оценка", "prio": "приоритет", "quadrant": "Квадрант", "priority": "Приоритет",
           "action": "Действие", "touchpoint": "Точка контакта", "traffic": "Светофор: компании и контактные лица",
           "zone": "Зона", "change": "Изменение", "strengths": "Сильные стороны", "weaknesses": "Слабые стороны",
           "suggestions": "Пожелания и предложения", "mentions": "Упоминания", "share": "Доля комментариев",
           "quotes": "Цитаты", "positive": "позитивные", "negative": "негативные", "impact": "Влияние тем на NPS",
           "impact_all": "Все упоминания", "impact_pos": "Позитивные", "impact_neg": "Негативные",
           "shortlist": "Кого интервьюировать", "reasons": "Причины", "questions": "Вопросы для интервью",
           "negative_tps": "Негативные темы", "risks": "Риски", "trends": "Динамика по волнам",
           "category": "Категория", "breakdowns": "Разрезы", "segment": "Сегмент", "region": "Регион",
           "question": "Вопрос", "data_quality": "Качество данных", "errors": "Ошибки в данных",
           "warnings": "Предупреждения", "low_n": "мало ответов", "none": "нет данных", "company": "Компания",
           "contact": "Контакт", "n": "n", "at_risk": "Компании с упоминанием рисков", "score": "Ранг",
           "basis": "Основа оценки", "method": "Метод важности", "cut": "Линии раздела",
           "company_trends": "Изменение оценки компаний", "tp_trends": "Доля тем в комментариях",
           "key_account": "ключевой клиент", "previous": "Пред. волна", "interp": "Интерпретация",
           "z_red": "красная", "z_yellow": "жёлтая", "z_green": "зелёная"},
    "en": {"title": "Customer experience report", "summary": "Summary", "source": "Source", "wave": "Wave",
           "generated": "Generated", "model": "Model", "answers": "answers", "companies": "Companies",
           "contacts": "Contacts", "comments": "comments", "nps": "NPS", "csat": "CSAT", "ces": "CES",
           "satisfaction": "Average satisfaction", "satisfaction10": "Average score (of 10)", "ci": "95% CI",
           "matrix": "Satisfaction matrix", "importance": "Importance", "performance": "Performance",
           "prio": "priority", "quadrant": "Quadrant", "priority": "Priority", "action": "Action",
           "touchpoint": "Touchpoint", "traffic": "Traffic lights: companies and contacts", "zone": "Zone",
           "change": "Change", "strengths": "Strengths", "weaknesses": "Weaknesses",
           "suggestions": "Requests and suggestions", "mentions": "Mentions", "share": "Share of comments",
           "quotes": "Quotes", "positive": "positive", "negative": "negative", "impact": "Theme impact on NPS",
           "impact_all": "All mentions", "impact_pos": "Positive", "impact_neg": "Negative",
           "shortlist": "Interview shortlist", "reasons": "Reasons", "questions": "Interview questions",
           "negative_tps": "Negative topics", "risks": "Risks", "trends": "Wave-over-wave trends",
           "category": "Category", "breakdowns": "Breakdowns", "segment": "Segment", "region": "Region",
           "question": "Question", "data_quality": "Data quality", "errors": "Data errors",
           "warnings": "Warnings", "low_n": "small sample", "none": "no data", "company": "Company",
           "contact": "Contact", "n": "n", "at_risk": "Companies mentioning risks", "score": "Rank",
           "basis": "Performance basis", "method": "Importance method", "cut": "Cut lines",
           "company_trends": "Company score change", "tp_trends": "Theme share of comments",
           "key_account": "key account", "previous": "Prev. wave", "interp": "Interpretation",
           "z_red": "red", "z_yellow": "yellow", "z_green": "green"},
}

_env: Environment | None = None


def _environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(loader=PackageLoader("cx", "templates"), autoescape=select_autoescape(default=True),
                           trim_blocks=True, lstrip_blocks=True)
        _env.filters["num"] = _num
        _env.filters["signed"] = lambda v, nd=0: "–" if v is None else f"{v:+.{nd}f}"
    return _env


def _num(v: Any, nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


def render_html(report: dict, *, charts: bool = True) -> str:
    """The report as one self-contained HTML page (``charts=False`` skips matplotlib, e.g. for quick tests)."""
    lang = report["meta"]["lang"]
    L = UI.get(lang, UI["en"])
    svgs: dict[str, Markup | None] = {"matrix": None, "companies": None, "waves": None, "sw": None}
    if charts:
        from . import charts as C

        for key, fn in (("matrix", C.matrix_chart), ("companies", C.companies_chart), ("waves", C.waves_chart),
                        ("sw", C.sw_chart)):
            svg = fn(report, L)
            svgs[key] = Markup(svg) if svg else None  # matplotlib output, text drawn as paths
    tpl = _environment().get_template("report.html.j2")
    return tpl.render(r=report, L=L, lang=lang, svg=svgs)
