"""Report wording in Russian and English. Keys are stable; the JSON report carries codes plus these texts."""
from __future__ import annotations

from typing import Any

TEXT: dict[str, dict[str, str]] = {
    # matrix quadrants (seed 001, Martilla & James 1977)
    "action.A": {"ru": "Приоритет 1: важно для клиента и оценено низко. Исправлять немедленно.",
                 "en": "Priority 1: important to clients and rated low. Fix first."},
    "action.B": {"ru": "Приоритет 2: менее важно и оценено низко. Исправлять после приоритета 1.",
                 "en": "Priority 2: less important and rated low. Fix after priority 1."},
    "action.C": {"ru": "Приоритет 3: важно и оценено высоко. Процесс выстроен правильно: поддерживать и контролировать.",
                 "en": "Priority 3: important and rated high. The process works: keep it up and monitor it."},
    "action.D": {"ru": "Приоритет 4: менее важно и оценено высоко. Возможны избыточные вложения: оптимизировать.",
                 "en": "Priority 4: less important and rated high. Possibly over-invested: optimise the cost."},
    # average satisfaction (seed 001)
    "interp.systemic": {"ru": "Системные проблемы: изъяны в самих процессах, процессы нужно перестраивать.",
                        "en": "Systemic problems: the processes themselves are flawed and must be rebuilt."},
    "interp.individual": {"ru": "Процессы в целом выстроены правильно; оставшиеся проблемы — частные случаи и конкретные люди.",
                          "en": "Processes work overall; the remaining problems are individual cases and people."},
    "interp.mixed": {"ru": "Смешанная картина: смотрите матрицу удовлетворённости, чтобы найти слабые процессы.",
                     "en": "Mixed picture: use the satisfaction matrix to find the weak processes."},
    "zone.red": {"ru": "красная", "en": "red"},
    "zone.yellow": {"ru": "жёлтая", "en": "yellow"},
    "zone.green": {"ru": "зелёная", "en": "green"},
    "reason.red_zone": {"ru": "красная зона", "en": "red zone"},
    "reason.key_account_detractor": {"ru": "критик в ключевом клиенте", "en": "detractor at a key account"},
    "reason.falling_company": {"ru": "оценка компании падает", "en": "company score falling"},
    "reason.falling_contact": {"ru": "оценка контакта падает", "en": "contact's score falling"},
    "basis.ratings": {"ru": "средние оценки компонентов", "en": "mean component ratings"},
    "basis.mentions": {"ru": "доля позитивных упоминаний", "en": "share of positive mentions"},
    # headline
    "head.nps": {"ru": "NPS {value:+.0f} (95% ДИ {lo:+.0f}…{hi:+.0f}; n = {n})",
                 "en": "NPS {value:+.0f} (95% CI {lo:+.0f} to {hi:+.0f}; n = {n})"},
    "head.avg": {"ru": "Средняя удовлетворённость {avg:.1f} из 10: {text}",
                 "en": "Average satisfaction {avg:.1f} of 10: {text}"},
    "head.red": {"ru": "В красной зоне {k} из {n} компаний: {names}",
                 "en": "{k} of {n} companies in the red zone: {names}"},
    "head.p1": {"ru": "Приоритет 1 (важно и оценено низко): {names}",
                "en": "Priority 1 (important, rated low): {names}"},
    "head.strength": {"ru": "Главная сильная сторона: {name}", "en": "Top strength: {name}"},
    "head.weakness": {"ru": "Главная слабая сторона: {name}", "en": "Top weakness: {name}"},
    "head.risks": {"ru": "Упоминания рисков: {n} ответов ({names})", "en": "Risk mentions: {n} answers ({names})"},
    "head.trend": {"ru": "NPS изменился на {delta:+.0f} п. к волне {prev}", "en": "NPS changed by {delta:+.0f} points since {prev}"},
    "head.shortlist": {"ru": "Кандидатов на интервью: {n}", "en": "Contacts to interview: {n}"},
}

#: HTML / chart labels, key -> (ru, en). Zone names come from the ``zone.*`` texts above (see :func:`labels`).
LABELS: dict[str, tuple[str, str]] = {
    "title": ("Отчёт о клиентском опыте", "Customer experience report"),
    "summary": ("Итоги", "Summary"),
    "source": ("Источник", "Source"),
    "wave": ("Волна", "Wave"),
    "generated": ("Сформирован", "Generated"),
    "model": ("Модель", "Model"),
    "answers": ("ответов", "answers"),
    "companies": ("Компании", "Companies"),
    "contacts": ("Контактные лица", "Contacts"),
    "comments": ("комментариев", "comments"),
    "nps": ("NPS", "NPS"),
    "csat": ("CSAT", "CSAT"),
    "ces": ("CES", "CES"),
    "satisfaction": ("Средняя удовлетворённость", "Average satisfaction"),
    "satisfaction10": ("Средняя оценка (из 10)", "Average score (of 10)"),
    "ci": ("95% ДИ", "95% CI"),
    "matrix": ("Матрица удовлетворённости", "Satisfaction matrix"),
    "importance": ("Важность", "Importance"),
    "performance": ("Оценка", "Performance"),
    "prio": ("приоритет", "priority"),
    "quadrant": ("Квадрант", "Quadrant"),
    "priority": ("Приоритет", "Priority"),
    "action": ("Действие", "Action"),
    "touchpoint": ("Точка контакта", "Touchpoint"),
    "traffic": ("Светофор: компании и контактные лица", "Traffic lights: companies and contacts"),
    "zone": ("Зона", "Zone"),
    "change": ("Изменение", "Change"),
    "strengths": ("Сильные стороны", "Strengths"),
    "weaknesses": ("Слабые стороны", "Weaknesses"),
    "suggestions": ("Пожелания и предложения", "Requests and suggestions"),
    "mentions": ("Упоминания", "Mentions"),
    "share": ("Доля комментариев", "Share of comments"),
    "quotes": ("Цитаты", "Quotes"),
    "positive": ("позитивные", "positive"),
    "negative": ("негативные", "negative"),
    "impact": ("Влияние тем на NPS", "Theme impact on NPS"),
    "impact_all": ("Все упоминания", "All mentions"),
    "impact_pos": ("Позитивные", "Positive"),
    "impact_neg": ("Негативные", "Negative"),
    "shortlist": ("Кого интервьюировать", "Interview shortlist"),
    "reasons": ("Причины", "Reasons"),
    "questions": ("Вопросы для интервью", "Interview questions"),
    "negative_tps": ("Негативные темы", "Negative topics"),
    "risks": ("Риски", "Risks"),
    "trends": ("Динамика по волнам", "Wave-over-wave trends"),
    "category": ("Категория", "Category"),
    "breakdowns": ("Разрезы", "Breakdowns"),
    "segment": ("Сегмент", "Segment"),
    "region": ("Регион", "Region"),
    "question": ("Вопрос", "Question"),
    "data_quality": ("Качество данных", "Data quality"),
    "errors": ("Ошибки в данных", "Data errors"),
    "warnings": ("Предупреждения", "Warnings"),
    "low_n": ("мало ответов", "small sample"),
    "none": ("нет данных", "no data"),
    "company": ("Компания", "Company"),
    "contact": ("Контакт", "Contact"),
    "n": ("n", "n"),
    "at_risk": ("Компании с упоминанием рисков", "Companies mentioning risks"),
    "score": ("Ранг", "Rank"),
    "basis": ("Основа оценки", "Performance basis"),
    "method": ("Метод важности", "Importance method"),
    "cut": ("Линии раздела", "Cut lines"),
    "company_trends": ("Изменение оценки компаний", "Company score change"),
    "tp_trends": ("Доля тем в комментариях", "Theme share of comments"),
    "key_account": ("ключевой клиент", "key account"),
    "previous": ("Пред. волна", "Prev. wave"),
    "interp": ("Интерпретация", "Interpretation"),
    # the touchpoint table
    "touchpoints": ("Точки контакта", "Touchpoints"),
    "neutral": ("нейтральные", "neutral"),
    "nps_mentioning": ("NPS ответов с упоминанием", "NPS of answers mentioning it"),
    "nps_impact": ("Влияние на NPS", "Impact on NPS"),
    "tp_note": ("NPS и его 95% ДИ — по ответам, где упомянута точка контакта; влияние на NPS = NPS(все) − "
                "NPS(ответы без такого упоминания); квадрант и приоритет — из матрицы удовлетворённости.",
                "NPS and its 95% CI are over the answers that mention the touchpoint; impact on NPS = NPS(all) − "
                "NPS(answers without such a mention); quadrant and priority come from the satisfaction matrix."),
}
LANGS = ("ru", "en")
ZONES = ("red", "yellow", "green")


def t(key: str, lang: str = "ru", **kw: Any) -> str:
    entry = TEXT[key]
    s = entry.get(lang) or entry["en"]
    return s.format(**kw) if kw else s


def both(key: str) -> dict[str, str]:
    """{"ru": ..., "en": ...} for texts the JSON carries in both languages."""
    return dict(TEXT[key])


def labels(lang: str = "ru") -> dict[str, str]:
    """The HTML / chart labels in ``lang`` (English for an unknown language); ``z_<zone>`` = the zone names."""
    k = LANGS.index(lang) if lang in LANGS else LANGS.index("en")
    out = {key: pair[k] for key, pair in LABELS.items()}
    out.update({f"z_{z}": t(f"zone.{z}", LANGS[k]) for z in ZONES})
    return out
