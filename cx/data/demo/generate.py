"""Seeded generator of the bundled demo wave (cx/data/demo/): run ``python cx/data/demo/generate.py``.

Writes ``wave.csv`` (two survey waves of a fictional B2B equipment supplier: 18 client companies, ~230
contacts, Russian headers, `;`-separated UTF-8 with BOM as Russian Excel saves it) and ``predictions.jsonl``:
the *known* labels of every comment in the prediction-row format (confidence and evidence spans included),
so the report can be built and tested without a trained model.

The story the report should tell (tests/cx/test_demo_e2e.py checks it):
* field service (service engineers) is rated low and drives NPS: matrix quadrant A, priority 1;
* the account managers (customer service) are the main strength: rated high and important (quadrant C);
* three companies are in the red zone (Вектор Агро, СтройМонтаж Урал, Northwind Trading), with switching,
  competitor and budget risk mentions; two companies fall between the waves (Полюс Энерго, Globex Industries).
Comments are composed from the hand-written phrase pools below (Russian majority, English for the
English-speaking clients); which touchpoints a comment mentions, and with which polarity, follows the scores.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np

SEED = 20240601
HERE = Path(__file__).resolve().parent
WAVES = ("2024 H1", "2024 H2")
WAVE_DATES = {"2024 H1": ("2024-03-01", 60), "2024 H2": ("2024-09-01", 60)}
COMPONENTS = ("field_service", "customer_service", "delivery", "billing", "tech_support", "price")
#: mean rating (1-10) of each component across clients
BASE = {"field_service": 6.1, "customer_service": 8.7, "delivery": 6.6, "billing": 7.1, "tech_support": 8.3,
        "price": 8.1}
#: how strongly each component drives the likelihood to recommend
NPS_WEIGHT = {"field_service": 0.55, "customer_service": 0.45, "delivery": 0.08, "billing": 0.06,
              "tech_support": 0.05, "price": 0.03}

# name, segment, region, language, profile (effect on ratings), wave-2 drop (components)
COMPANIES = [
    ("Вектор Агро", "Средний бизнес", "Краснодар", "ru", "red", ()),
    ("СтройМонтаж Урал", "Крупный бизнес", "Екатеринбург", "ru", "red", ()),
    ("Northwind Trading", "Средний бизнес", "Москва", "en", "red", ()),
    ("Полюс Энерго", "Крупный бизнес", "Красноярск", "ru", "good", ("field_service", "delivery", "customer_service")),
    ("Globex Industries", "Крупный бизнес", "Санкт-Петербург", "en", "good", ("field_service", "delivery", "customer_service")),
    ("Альфа Логистик", "Крупный бизнес", "Москва", "ru", "normal", ()),
    ("БетаПром", "Средний бизнес", "Нижний Новгород", "ru", "normal", ()),
    ("Гамма Фарм", "Крупный бизнес", "Москва", "ru", "good", ()),
    ("Дельта Ритейл", "Средний бизнес", "Санкт-Петербург", "ru", "normal", ()),
    ("ЕвроТех Сервис", "Малый бизнес", "Казань", "ru", "normal", ()),
    ("Жемчуг Фуд", "Малый бизнес", "Сочи", "ru", "good", ()),
    ("Зенит Машиностроение", "Крупный бизнес", "Челябинск", "ru", "normal", ()),
    ("Интегра Медикал", "Средний бизнес", "Новосибирск", "ru", "good", ()),
    ("Кристалл Стекло", "Малый бизнес", "Владимир", "ru", "normal", ()),
    ("Лотос Агрохолдинг", "Крупный бизнес", "Ростов-на-Дону", "ru", "normal", ()),
    ("Меридиан Строй", "Средний бизнес", "Самара", "ru", "normal", ()),
    ("Acme Components", "Средний бизнес", "Москва", "en", "good", ()),
    ("Орион Телеком", "Крупный бизнес", "Москва", "ru", "normal", ()),
]
PROFILE = {
    "red": {"field_service": -2.6, "customer_service": -2.4, "delivery": -1.2, "billing": -1.5, "tech_support": -1.0,
            "price": -0.6},
    "normal": {c: 0.0 for c in COMPONENTS},
    "good": {"field_service": 2.5, "customer_service": 0.9, "delivery": 1.6, "billing": 1.5, "tech_support": 1.0,
             "price": 0.6},
}
WAVE2_DROP = -2.0
KEY_ACCOUNTS = ["Полюс Энерго", "Альфа Логистик", "Globex Industries", "СтройМонтаж Урал", "Орион Телеком"]

RU_FIRST = ["Алексей", "Марина", "Дмитрий", "Ольга", "Сергей", "Анна", "Игорь", "Елена", "Павел", "Наталья", "Андрей",
            "Татьяна", "Михаил", "Ирина", "Владимир", "Светлана", "Константин", "Юлия", "Роман", "Екатерина"]
RU_LAST = [("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"), ("Попов", "Попова"),
           ("Васильев", "Васильева"), ("Петров", "Петрова"), ("Соколов", "Соколова"), ("Михайлов", "Михайлова"),
           ("Новиков", "Новикова"), ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
           ("Алексеев", "Алексеева"), ("Лебедев", "Лебедева"), ("Семёнов", "Семёнова"), ("Егоров", "Егорова")]
RU_FEMALE = {"Марина", "Ольга", "Анна", "Елена", "Наталья", "Татьяна", "Ирина", "Светлана", "Юлия", "Екатерина"}
EN_FIRST = ["James", "Emily", "Oliver", "Sophie", "Daniel", "Grace", "Thomas", "Hannah", "Lucas", "Chloe", "Ryan",
            "Megan"]
EN_LAST = ["Walker", "Hughes", "Bennett", "Carter", "Mitchell", "Turner", "Parker", "Collins", "Morgan", "Reed"]

QUESTIONS = {
    "ru": {"promoter": "Что вам больше всего нравится в работе с нами?",
           "passive": "Что нам стоит улучшить?",
           "detractor": "Что нам нужно исправить в первую очередь?"},
    "en": {"promoter": "What do you like most about working with us?",
           "passive": "What should we improve?",
           "detractor": "What should we fix first?"},
}

# ------------------------------------------------------------------------------------------- phrase pools
# touchpoint -> polarity -> phrases (no final period; composed into comments by `compose`)
RU = {
    "field_service": {
        "positive": ["Сервисный инженер приехал на следующий день и быстро всё починил",
                     "Инженеры по обслуживанию настоящие профессионалы, объясняют, что и почему сломалось",
                     "Плановое обслуживание проводят строго по графику",
                     "Монтаж оборудования выполнили аккуратно и в срок",
                     "Выездной инженер нашёл причину поломки с первого визита"],
        "negative": ["Сервисного инженера ждали больше недели, линия стояла",
                     "Инженер приехал без нужных запчастей, пришлось вызывать повторно",
                     "Ремонт на месте затягивается, сроки выезда постоянно переносят",
                     "Плановое обслуживание срывают уже второй раз подряд",
                     "Инженеры меняются каждый раз и не знают историю нашего оборудования",
                     "После визита сервисного инженера поломка повторилась через два дня"],
        "neutral": ["Хотелось бы получать отчёт инженера после каждого визита",
                    "Было бы удобно согласовывать время выезда инженера онлайн"],
    },
    "customer_service": {
        "positive": ["Персональный менеджер всегда на связи и быстро отвечает",
                     "Наш менеджер Ольга решает любые вопросы за один звонок",
                     "Клиентский менеджер держит нас в курсе по всем заявкам",
                     "Менеджер сам звонит и уточняет, всё ли в порядке",
                     "Очень внимательное отношение со стороны клиентского менеджера"],
        "negative": ["Менеджер не отвечает на письма по несколько дней",
                     "Персональный менеджер поменялся трижды за полгода",
                     "Обещают перезвонить и пропадают",
                     "Клиентский менеджер не владеет информацией о статусе наших заказов"],
        "neutral": ["Хотелось бы еженедельный статус по открытым заявкам от менеджера"],
    },
    "delivery": {
        "positive": ["Поставки приходят точно в срок", "Логистика работает чётко, всё привозят комплектно",
                     "Нужные позиции всегда есть на складе"],
        "negative": ["Сроки поставки срываются на две-три недели",
                     "Отгрузку задерживают без предупреждения",
                     "Часть заказа привезли с повреждённой упаковкой",
                     "Нужных запчастей постоянно нет в наличии на складе"],
        "neutral": ["Хотелось бы отслеживать статус отгрузки онлайн"],
    },
    "billing": {
        "positive": ["Закрывающие документы приходят вовремя и без ошибок", "Бухгалтерия быстро делает сверку"],
        "negative": ["Счета приходят с ошибками, приходится переделывать",
                     "Закрывающие документы задерживают на месяц",
                     "Возврат переплаты ждём уже третий месяц",
                     "В актах постоянно путают реквизиты"],
        "neutral": ["Было бы удобно получать счета через ЭДО"],
    },
    "tech_support": {
        "positive": ["Техподдержка отвечает быстро и по делу", "Горячая линия помогла решить проблему удалённо за час"],
        "negative": ["До техподдержки невозможно дозвониться", "Заявки в техподдержку висят без ответа по неделе"],
        "neutral": [],
    },
    "price": {
        "positive": ["Цены адекватные для такого качества", "Хорошие скидки для постоянных клиентов"],
        "negative": ["Цены выросли, а качество сервиса нет", "Дорого по сравнению с рынком"],
        "neutral": ["Интересует возможность отсрочки платежа"],
    },
    "product": {
        "positive": ["Оборудование надёжное, работает без сбоев", "Качество продукции стабильно высокое"],
        "negative": ["Оборудование часто выходит из строя", "Качество последней партии заметно хуже"],
        "neutral": ["Хотелось бы расширения ассортимента расходных материалов"],
    },
    "digital": {
        "positive": ["В личном кабинете удобно оформлять заказы", "Сайт понятный, всё легко найти"],
        "negative": ["Личный кабинет постоянно зависает", "На сайте устаревшие цены и наличие"],
        "neutral": ["Хотелось бы видеть историю заказов в личном кабинете"],
    },
    "front_office": {
        "positive": ["Секретарь сразу соединяет с нужным специалистом"],
        "negative": ["На линии приходится ждать по двадцать минут", "Звонок переводят из отдела в отдел"],
        "neutral": [],
    },
    "sales": {
        "positive": ["Менеджер по продажам подготовил понятное коммерческое предложение",
                     "С отделом продаж легко договориться об условиях"],
        "negative": ["Коммерческое предложение ждали две недели", "Отдел продаж обещает одно, а в договоре другое"],
        "neutral": [],
    },
    "brand": {
        "positive": ["Надёжная компания с хорошей репутацией", "Рекомендую вас коллегам как честного партнёра"],
        "negative": ["Доверие к компании заметно упало"],
        "neutral": [],
    },
}
EN = {
    "field_service": {
        "positive": ["The service engineer came the next day and fixed everything quickly",
                     "Maintenance visits happen exactly on schedule",
                     "Your field engineers really know our equipment"],
        "negative": ["We waited more than a week for a service engineer",
                     "The engineer arrived without the right spare parts",
                     "On-site repairs keep getting postponed"],
        "neutral": ["A short report after each engineer visit would help"],
    },
    "customer_service": {
        "positive": ["Our account manager always answers within the hour",
                     "The account manager keeps us informed about every request"],
        "negative": ["Our account manager ignores emails for days", "Nobody calls back when they promise to"],
        "neutral": [],
    },
    "delivery": {
        "positive": ["Deliveries always arrive on time"],
        "negative": ["Deliveries are two weeks late", "Spare parts are never in stock"],
        "neutral": ["We would like to track shipments online"],
    },
    "billing": {
        "positive": ["Invoices are accurate and on time"],
        "negative": ["Invoices keep arriving with errors", "We have been waiting for a refund for three months"],
        "neutral": [],
    },
    "tech_support": {
        "positive": ["The hotline solved our issue remotely in an hour"],
        "negative": ["Support tickets stay open for a week"],
        "neutral": [],
    },
    "price": {
        "positive": ["Prices are fair for this level of quality"],
        "negative": ["Prices went up but the service did not improve"],
        "neutral": [],
    },
    "product": {
        "positive": ["The equipment is reliable"],
        "negative": ["The machines break down too often"],
        "neutral": [],
    },
    "digital": {
        "positive": ["Ordering through the portal is easy"],
        "negative": ["The customer portal keeps crashing"],
        "neutral": ["Order history in the portal would be useful"],
    },
    "brand": {
        "positive": ["A trustworthy partner with a good reputation"],
        "negative": [],
        "neutral": [],
    },
}
GENERIC = {"ru": ["В целом всё устраивает", "Особых замечаний нет", "Работаем давно, всё стабильно"],
           "en": ["Overall we are satisfied", "No particular remarks"]}
RISKS = {
    "ru": ["Рассматриваем других поставщиков", "Конкуренты предлагают сервис быстрее и дешевле",
           "Бюджет на следующий год урезали, будем пересматривать подрядчиков",
           "Если ничего не изменится, не будем продлевать договор"],
    "en": ["We are looking at other suppliers", "Your competitors offer faster service",
           "Budget cuts next year mean we will review all contracts"],
}
CONNECT = {"ru": [(", но ", "neg_after_pos"), (". ", "any"), (", а ещё ", "same"), ("; ", "any")],
           "en": [(", but ", "neg_after_pos"), (". ", "any"), ("; ", "any")]}
# touchpoints without a rating column, mentioned now and then
UNRATED = ("product", "digital", "front_office", "sales", "brand")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _low(s: str) -> str:
    if len(s) > 1 and s[1].isupper():  # an abbreviation: keep
        return s
    return s[:1].lower() + s[1:]


def compose(parts: list[tuple[str, str, str]], lang: str, rng: random.Random, risk: str | None
            ) -> tuple[str, list[dict]]:
    """Join (touchpoint, polarity, phrase) parts into one comment; return it with the evidence spans."""
    text, spans = "", []
    for k, (tp, pol, phrase) in enumerate(parts):
        if k == 0:
            piece = _cap(phrase)
        else:
            prev_pol = parts[k - 1][1]
            options = [c for c, rule in CONNECT[lang]
                       if rule == "any" or (rule == "neg_after_pos" and prev_pol != pol and "neutral" not in (prev_pol, pol))
                       or (rule == "same" and prev_pol == pol)]
            conn = rng.choice(options)
            text += conn
            piece = _cap(phrase) if conn.strip() in (".",) else _low(phrase)
        start = len(text)
        text += piece
        if tp:
            spans.append({"touchpoint": tp, "polarity": pol, "start": start, "end": len(text)})
    text += "."
    if risk:
        text += " " + risk + "."
    return text, spans


def main() -> None:
    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    rows, preds = [], []
    answer_no = 0
    contacts = []
    used_names: set[str] = set()
    for comp, segment, region, lang, profile, drop in COMPANIES:
        k = 13 if comp in KEY_ACCOUNTS or profile == "red" else rng.randint(10, 14)
        for _ in range(k):
            while True:
                if lang == "ru":
                    first = rng.choice(RU_FIRST)
                    last = rng.choice(RU_LAST)[1 if first in RU_FEMALE else 0]
                    name = f"{last} {first}"
                else:
                    name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
                if (comp, name) not in used_names:
                    used_names.add((comp, name))
                    break
            mood = nrng.normal(0, 0.7)  # the contact's own leniency
            contacts.append((comp, segment, region, lang, profile, drop, name, mood))
    for wave in WAVES:
        start, span_days = WAVE_DATES[wave]
        for comp, segment, region, lang, profile, drop, name, mood in contacts:
            if wave == WAVES[0] and rng.random() < 0.15:
                continue  # some contacts joined the survey only in the second wave
            ratings = {}
            for c in COMPONENTS:
                eff = PROFILE[profile][c] + (WAVE2_DROP if wave == WAVES[1] and c in drop else 0.0)
                ratings[c] = int(np.clip(round(BASE[c] + eff + mood + nrng.normal(0, 0.9)), 1, 10))
            latent = 8.4 + sum(NPS_WEIGHT[c] * (ratings[c] - BASE[c]) for c in COMPONENTS) + nrng.normal(0, 0.7)
            nps = int(np.clip(round(latent), 0, 10))
            mean_r = float(np.mean(list(ratings.values())))
            csat = int(np.clip(round(1 + (mean_r - 1) / 9 * 4 + nrng.normal(0, 0.4)), 1, 5))
            ces = int(np.clip(round(1 + (ratings["customer_service"] + ratings["tech_support"] - 2) / 18 * 6
                                    + nrng.normal(0, 0.5)), 1, 7))
            kind = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
            pool = RU if lang == "ru" else EN
            parts: list[tuple[str, str, str]] = []
            for c in COMPONENTS:
                r = ratings[c]
                if r <= 5 and rng.random() < 0.75 and pool[c]["negative"]:
                    parts.append((c, "negative", rng.choice(pool[c]["negative"])))
                elif r >= 9 and rng.random() < 0.45 and pool[c]["positive"]:
                    parts.append((c, "positive", rng.choice(pool[c]["positive"])))
            if rng.random() < 0.3:
                tp = rng.choice([u for u in UNRATED if u in pool])
                pol = "negative" if kind == "detractor" and rng.random() < 0.7 else "positive"
                if pool[tp][pol]:
                    parts.append((tp, pol, rng.choice(pool[tp][pol])))
            if rng.random() < 0.12:
                tp = rng.choice([t for t in pool if pool[t]["neutral"]])
                parts.append((tp, "neutral", rng.choice(pool[tp]["neutral"])))
            rng.shuffle(parts)
            parts = parts[:3]
            if not parts:
                parts = [("", "neutral", rng.choice(GENERIC[lang]))]
            risk = None
            if kind == "detractor" and (profile == "red" or drop) and rng.random() < 0.35:
                risk = rng.choice(RISKS[lang])
            if risk and not parts[0][0]:  # no "no remarks" before a risk sentence
                text, spans = risk + ".", []
            else:
                text, spans = compose(parts, lang, rng, risk)
            if rng.random() < 0.06:  # some answers have scores but no comment
                text, spans = "", []
            answer_no += 1
            aid = f"A{answer_no:04d}"
            date = np.datetime64(start) + np.timedelta64(rng.randrange(span_days), "D")
            rows.append({"ID": aid, "Компания": comp, "Контактное лицо": name, "Сегмент": segment, "Регион": region,
                         "Дата": str(date), "Волна": wave, "Вопрос": QUESTIONS[lang][kind], "NPS": nps, "CSAT": csat,
                         "CES": ces, **{f"rating:{c}": ratings[c] for c in COMPONENTS}, "Комментарий": text})
            if not text:
                continue
            pols = {s["polarity"] for s in spans}
            sentiment = ("mixed" if {"positive", "negative"} <= pols else "negative" if "negative" in pols
                         else "positive" if "positive" in pols else "negative" if risk else "neutral")
            preds.append({
                "id": aid, "lang": lang,
                "sentiment": {"label": sentiment, "scores": {sentiment: 1.0}},
                "touchpoints": [{"touchpoint": s["touchpoint"], "polarity": s["polarity"],
                                 "confidence": round(rng.uniform(0.7, 0.99), 3),
                                 "evidence": {"start": s["start"], "end": s["end"], "text": text[s["start"]:s["end"]]}}
                                for s in spans],
                "model": {"name": "demo-gold-labels", "version": "1"}, "warnings": []})
    with open(HERE / "wave.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        w.writeheader()
        w.writerows(rows)
    with open(HERE / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for p in preds:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    print(f"{len(rows)} answers, {len(contacts)} contacts, {len(COMPANIES)} companies, {len(preds)} labeled comments")


if __name__ == "__main__":
    main()
