"""The web app's interface texts in Russian and English. Keys are the English texts; ``RU`` gives the
Russian. Report wording (zone names, interpretations, actions) comes from :mod:`cx.i18n`, the report's own
catalogue, so the page and the downloaded report say the same thing. A missing Russian text falls back to
English (tests/web check that every text used by the templates has one)."""
from __future__ import annotations

from typing import Any

from cx.i18n import TEXT as REPORT_TEXT

RU: dict[str, str] = {
    # layout, sign-in
    "CX analysis": "Анализ клиентского опыта", "Skip to content": "К содержимому", "Main": "Главное меню",
    "Waves": "Волны", "Corrections": "Исправления", "Taxonomy": "Таксономия", "Models": "Модели",
    "Language": "Язык", "Sign out": "Выйти", "Sign in": "Войти", "API key": "API-ключ",
    "Sign in with your API key. Ask an administrator for one (cxlens keys create).":
        "Войдите с вашим API-ключом. Ключ выдаёт администратор (cxlens keys create).",
    "enter your API key": "введите API-ключ", "unknown or revoked API key": "неизвестный или отозванный API-ключ",
    "too many failed sign-ins from this address; try again in a minute":
        "слишком много неудачных попыток входа с этого адреса; повторите через минуту",
    "analyst": "аналитик", "admin": "администратор", "viewer": "наблюдатель",
    "Error": "Ошибка", "Something is not right": "Что-то не так", "Back to the waves": "К списку волн",
    "field": "поле", "Field": "Поле",
    # waves
    "Upload a wave": "Загрузить волну", "Drop a CSV or XLSX file here, or choose one":
        "Перетащите сюда файл CSV или XLSX или выберите его", "Upload and preview": "Загрузить и просмотреть",
    "Your waves": "Ваши волны", "File": "Файл", "Status": "Статус", "Uploaded": "Загружен",
    "No waves yet.": "Волн пока нет.", "uploaded": "загружена", "queued": "в очереди", "running": "выполняется",
    "done": "готово", "failed": "ошибка", "cancelled": "отменено",
    "Preview and column mapping": "Просмотр и сопоставление столбцов", "Rows in the file": "Строк в файле",
    "Check the detected columns; change any that are wrong.":
        "Проверьте найденные столбцы и исправьте неверные.",
    "— not used / auto —": "— не используется / авто —", "Report language": "Язык отчёта",
    "Start analysis": "Запустить анализ", "Analysis": "Анализ", "Progress": "Ход выполнения",
    "comments": "комментариев", "about": "примерно", "s left": "с осталось", "failed rows": "строк с ошибками",
    "Open the report": "Открыть отчёт", "Review labels": "Проверить разметку", "Shortlist": "Кого опросить",
    "Rows with errors": "Строки с ошибками", "the other rows are processed": "остальные строки обработаны",
    "Row": "Строка", "Problem": "Проблема",
    "role.company": "Компания", "role.contact": "Контактное лицо", "role.id": "ID ответа", "role.segment": "Сегмент",
    "role.region": "Регион", "role.question": "Вопрос", "role.wave": "Волна", "role.date": "Дата",
    "role.comment": "Комментарий", "role.key_account": "Ключевой клиент", "role.nps": "NPS", "role.csat": "CSAT",
    "role.ces": "CES",
    # report
    "Report": "Отчёт", "Filters": "Фильтры", "filter.segment": "Сегмент", "filter.company": "Компания",
    "filter.touchpoint": "Точка контакта", "filter.lang": "Язык", "filter.zone": "Зона", "all": "все",
    "Apply": "Применить", "Reset": "Сбросить", "No answers match the filters.": "Нет ответов, подходящих под фильтры.",
    "Summary": "Итоги", "answers": "ответов", "companies": "компаний", "Average satisfaction": "Средняя удовлетворённость",
    "Touchpoints": "Точки контакта", "Mentions per touchpoint and polarity": "Упоминания по точкам контакта и тональности",
    "Touchpoint": "Точка контакта", "Mentions": "Упоминаний", "positive": "позитивно", "negative": "негативно",
    "neutral": "нейтрально", "mixed": "смешанно", "Share, %": "Доля, %",
    "Importance × performance matrix": "Матрица важность × оценка",
    "Importance and performance of each touchpoint": "Важность и оценка каждой точки контакта",
    "Importance": "Важность", "Performance": "Оценка", "Quadrant": "Квадрант", "Action": "Действие",
    "Strengths": "Сильные стороны", "Weaknesses": "Слабые стороны", "Suggestions": "Предложения",
    "Traffic lights: companies": "Светофор: компании", "Traffic lights: contacts": "Светофор: контактные лица",
    "Contact": "Контактное лицо", "Company": "Компания", "Zone": "Зона", "Average": "Среднее",
    "Answers": "Ответов", "Change": "Изменение", "Change, pp": "Изменение, п. п.",
    "Touchpoint mentions, % of comments": "Упоминания точек контакта, % комментариев",
    "Companies by wave": "Компании по волнам", "falling": "падает", "Risks": "Риски", "Trends": "Динамика", "Wave": "Волна",
    "Contacts to interview": "Контактов для интервью", "Warnings": "Предупреждения", "Downloads": "Скачать",
    "filtered": "с фильтрами", "labels": "разметка", "shortlist": "кого опросить",
    "Comments": "Комментарии", "No comments.": "Комментариев нет.", "risk": "риск",
    # review, corrections
    "Review": "Проверка разметки",
    "Most uncertain comments first. Keys: 1–4 sentiment, select text then E to use it as evidence of the focused touchpoint, Ctrl+Enter save, N next, P previous.":
        "Сначала самые неуверенные. Клавиши: 1–4 тональность; выделите текст и нажмите E, чтобы сделать его "
        "фрагментом-основанием выбранной точки контакта; Ctrl+Enter сохранить; N следующий, P предыдущий.",
    "Correction saved": "Исправление сохранено", "previous": "предыдущий", "next": "следующий",
    "Sentiment": "Тональность", "Polarity": "Тональность упоминания", "Evidence": "Фрагмент",
    "use selection": "взять выделенное", "Save correction": "Сохранить исправление", "evidence": "фрагмент",
    "Dataset": "Набор данных", "Show": "Показать", "Feedback dataset": "Набор исправлений",
    "corrections, newest first": "исправлений, новые сверху", "When": "Когда", "Who": "Кто", "Comment": "Комментарий",
    "No corrections yet.": "Исправлений пока нет.",
    # shortlist
    "Interview shortlist": "Кого опросить", "Reasons": "Причины", "Questions": "Вопросы", "contacted": "связались",
    "interviewed": "опрошен", "Note": "Заметка", "Save": "Сохранить",
    "Nobody to interview in this wave (no red-zone contacts, detractors at key accounts or falling companies).":
        "В этой волне некого опрашивать (нет контактов в красной зоне, критиков в ключевых клиентах и падающих компаний).",
    # models, taxonomy
    "Version": "Версия", "Type": "Тип", "Created": "Создана", "Aliases": "Метки", "Metrics": "Метрики",
    "Comparison with production": "Сравнение с рабочей версией", "served": "используется", "Gate": "Контроль качества",
    "passed": "пройден", "refused": "не пройден", "Promote": "Сделать рабочей", "Reason": "Причина",
    "force (skip the gate)": "принудительно (без контроля качества)", "Roll back": "Откатить",
    "To version (default: the previous production)": "К версии (по умолчанию: предыдущая рабочая)",
    "Production history": "История рабочих версий", "No models in the store.": "В хранилище нет моделей.",
    "Train a new version from the corrections": "Обучить новую версию на исправлениях", "Model name": "Модель",
    "Feedback datasets": "Наборы исправлений", "rows": "строк",
    "Rename or remove touchpoints (old=new or old=, one per line)":
        "Переименовать или удалить точки контакта (старая=новая или старая=, по одной в строке)",
    "promote if the gate passes": "сделать рабочей, если контроль пройден", "Train": "Обучить",
    "Training jobs": "Задания обучения", "Training job": "Задание обучения", "promoted": "стала рабочей",
    "Name": "Название", "Description": "Описание", "Keywords": "Ключевые слова", "Add a touchpoint": "Добавить точку контакта",
    "A new model version is trained with the extended taxonomy from the collected corrections; promote it on the Models page. Renames and removals: old=new / old= on the Models page.":
        "Новая версия модели обучается с расширенной таксономией на собранных исправлениях; сделайте её рабочей на "
        "странице «Модели». Переименование и удаление: старая=новая / старая= на странице «Модели».",
    "Name (RU)": "Название (RU)", "Name (EN)": "Название (EN)", "Description (RU)": "Описание (RU)",
    "Description (EN)": "Описание (EN)", "Example words (beginnings, comma-separated)":
        "Примеры слов (начала слов, через запятую)", "Add and train": "Добавить и обучить",
}


def translate(text: str, lang: str, **kw: Any) -> str:
    if not text:
        return ""
    if text.startswith("zone.") and text in REPORT_TEXT:  # the report's own wording
        out = REPORT_TEXT[text].get(lang) or REPORT_TEXT[text]["en"]
    elif lang == "ru":
        out = RU.get(text, text)
    else:
        out = text.split(".", 1)[1].replace("_", " ").capitalize() if text.startswith(("role.", "filter.")) else text
    if text.startswith("filter.") and lang == "en":
        out = {"filter.lang": "Language"}.get(text, out)
    if text.startswith("role.") and lang == "en":
        out = {"role.id": "Answer id", "role.nps": "NPS", "role.csat": "CSAT", "role.ces": "CES",
               "role.key_account": "Key account"}.get(text, out)
    return out.format(**kw) if kw else out
