"""The optimised `fast` prediction path gives the rows of the straightforward one (issue 13).

Each optimised component is compared with the plain computation it replaces, kept here as the reference:
segmentation (per-chunk token cache vs the full spaCy pipeline: tokenizer, sentencizer, pymorphy3
component), TF-IDF counts (per-word char n-grams, one CSR build vs scikit-learn's ``transform``), keyword
counts (vs ``findall`` per pattern), the touchpoint heads (one sparse product vs one scikit-learn call per
label); then whole prediction rows of a model trained here on a fixed part of the seed set against a
reference predictor written the straightforward way.
"""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import scipy.sparse as sp

from nlp.families.features import KeywordCounter, TfidfFeaturizer, keyword_pattern
from nlp.labeled.formats import read_documents, read_labeled
from nlp.text.language import UNKNOWN, LanguageIdentifier
from nlp.families.pipeline import CommentPipeline
from nlp.schema import PREDICTED_POLARITIES, SENTIMENTS, Document, prediction_row
from nlp.labeled.seed import seed_split_path
from nlp.text.segmentation import Segmenter, truncate
from nlp.taxonomy import load_taxonomy
from tests.conftest import REPO, SHARED_DATA

EDGE = [
    "", " ", "  ", "\n", " a", "a ", "a  b", "a \n b", "\n\ta\n", "👍", "!!!", "12345", "x" * 300,
    "Счёт пришёл вовремя, но мастер опоздал.  Потом всё-таки помогли!", "Wi-Fi ок, но скорость 5 Мбит/с :(",
    "в т.ч. доставка", "т. е. доставка", "Интернет - в порядке", "д-р наук", ":) ok", ": ) ok", "o.O wow",
    "Mr. Smith didn't call, e.g. never", "THE ROUTER DOESN'T WORK     AND NOBODY CALLS BACK", "http://x.ru/a?b=1 a@b.ru #tag",
    "Цены\u00a0кусаются", "Менеджер\u2009ответил", "«Хорошо» — сказал он; (почти)", "Доставка… опять!?", "не не не",
]


def _fuzz(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = (list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЖabcdefghijklmnopqrstuvwxyzABCXYZ0123456789")
                + list(" \t\n\r\u00a0\u2009  .,;:!?-—–()[]\"'«»/\\@#$%^&*_+=<>|~`…😡👍")
                + ["т.е.", "в т.ч.", " - в ", ":)", ":-)", "n't", "Mr.", "e.g.", "д-р ", "т. е.", "http://x.ru/a", "-8", "o.O"])
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60))) for _ in range(n)]


def _seed_texts() -> list[str]:
    return [e.text for split in ("train", "dev") for e in read_labeled(seed_split_path(split))[0]]


def _demo_texts() -> list[str]:
    return [d.text for d in read_documents(REPO / "nlp" / "data" / "demo" / "comments.csv")[0]]


def _shared_texts(per_file: int = 120) -> list[str]:
    import json

    out = []
    for path in sorted(SHARED_DATA.glob("*/*.jsonl")) if SHARED_DATA.is_dir() else []:
        with path.open(encoding="utf-8") as fh:
            for k, line in enumerate(fh):
                if k >= per_file:
                    break
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    out.append(text)
    return out


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _seed_texts() + _demo_texts() + _shared_texts() + EDGE + _fuzz(2000, seed=13)


@pytest.fixture(scope="module")
def model() -> CommentPipeline:
    """A fast model trained on a fixed part of the seed train split (every other row)."""
    train = read_labeled(seed_split_path("train"))[0][::2]
    return CommentPipeline(model_type="fast", taxonomy=load_taxonomy()).fit(train)


# -- segmentation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"lemmatize": False}, {"mark_negation": False}])
def test_chunk_tokenizer_segments_like_the_spacy_pipeline(corpus, options):
    langid = LanguageIdentifier()
    texts = [truncate(t)[0] for t in (corpus if not options else corpus[::3])]
    langs = [langid.detect(t).processing_lang for t in texts]
    langs[::7] = ["en"] * len(langs[::7])  # every script through both languages' rules
    langs[1::7] = ["ru"] * len(langs[1::7])
    langs[2::7] = ["de"] * len(langs[2::7])  # unconfigured: English rules
    fast = Segmenter(**options).analyze_many(texts, langs)  # first, on empty caches
    again = Segmenter(**options)
    again.analyze_many(texts[::-1], langs[::-1])  # caches filled in another order
    reference = Segmenter(**options).analyze_many_spacy(texts, langs)
    assert fast == reference
    assert again.analyze_many(texts, langs) == reference


def test_chunks_that_a_special_case_could_join_are_tokenised_whole():
    seg = Segmenter()
    chunker = seg._chunkers["ru"]
    assert ("в", "т.ч.") in chunker.pairs or any(p[0] == "в" for p in chunker.pairs)
    text = "Доставка в т.ч. в выходные - в порядке"
    assert seg.analyze_many([text], ["ru"]) == seg.analyze_many_spacy([text], ["ru"])


def test_plain_words_skip_the_affix_rules_only_where_no_rule_can_cut_letters():
    import re

    import spacy
    from spacy.util import compile_suffix_regex

    from nlp.text.segmentation import _ChunkTokenizer, _letters_only_safe

    for lang in ("ru", "en"):  # spaCy's own rules never cut a run of letters
        assert _letters_only_safe(spacy.blank(lang).tokenizer)
    cut = spacy.blank("en")  # a suffix rule that cuts letters: "walking" is "walk" + "ing"
    cut.tokenizer.suffix_search = compile_suffix_regex(list(cut.Defaults.suffixes) + ["ing"]).search
    cut.add_pipe("sentencizer")
    assert not _letters_only_safe(cut.tokenizer)
    chunker = _ChunkTokenizer(cut, lemmas=False)
    assert [t.text for t in cut.tokenizer("walking")] == ["walk", "ing"] == chunker._split("walking")
    for infix in ("(?<=[a-z])x(?=[a-z])", "[^0-9]", "(?i:K)"):  # a letter in a word, a negated class, (?i:)
        other = spacy.blank("en")
        other.tokenizer.infix_finditer = re.compile(infix).finditer
        assert not _letters_only_safe(other.tokenizer)
    plain = spacy.blank("en")
    plain.add_pipe("sentencizer")
    chunker = _ChunkTokenizer(plain, lemmas=False)
    assert chunker.plain_words
    assert chunker._split("walking") == ["walking"]
    assert chunker._split("dont") is None  # a special case ("do" + "nt"): spaCy tokenises it


# -- features --------------------------------------------------------------------------------------
def _reference_features(f: TfidfFeaturizer, texts: list[str]) -> sp.csr_matrix:
    blocks = [f.word_.transform(texts), f.char_.transform(texts)]
    if f.patterns_:
        rows, cols, vals = [], [], []
        for i, t in enumerate(texts):
            for j, (_, pat) in enumerate(f.patterns_):
                hits = len(pat.findall(t))
                if hits:
                    rows.append(i)
                    cols.append(j)
                    vals.append(f.keyword_weight * min(hits, 3) / 3)
        blocks.append(sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                    shape=(len(texts), len(f.patterns_))))
    return sp.hstack(blocks, format="csr", dtype=np.float32)


def _same_csr(a, b) -> bool:
    return (type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype and a.has_sorted_indices == b.has_sorted_indices
            and a.indices.dtype == b.indices.dtype and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))


def _norms(texts: list[str]) -> list[str]:
    langid = LanguageIdentifier()
    analyses = Segmenter().analyze_many(texts, [langid.detect(t).processing_lang for t in texts])
    return [a.norm for a in analyses] + [c for a in analyses for c in a.clause_norms]


def test_tfidf_and_keyword_features_match_scikit_learn_and_findall(model, corpus):
    f = model.featurizer_
    texts = _norms(corpus) + ["", " ", "NEG_не", "a\tb  c\n", "обратн  связь NEG_обратн связь"]
    for part in (texts[:5000], texts[5000:]):
        assert _same_csr(f.transform(part), _reference_features(f, part))
    assert _same_csr(f.transform(texts[:300]), _reference_features(f, texts[:300]))  # warm word cache
    with pytest.raises(ValueError):  # as scikit-learn's transform of no texts
        _reference_features(f, [])
    with pytest.raises(ValueError):
        f.transform([])


def test_keyword_counter_matches_findall_for_any_keywords():
    rnd = random.Random(5)
    keywords = {"a": ["цен", "стоимост", "обратн связь", "on", "o", "it team"], "b": ["-скидк", "цен"],
                "c": ["", "x y"], "d": ["NEG_плох", "e-commerce", "e", "wi-fi"], "e": ["достав", "доставк"]}
    patterns = [(k, keyword_pattern(v)) for k, v in sorted(keywords.items())]
    counter = KeywordCounter(patterns, keywords)
    assert counter.slow == [1, 2]  # a keyword starting with "-" and an empty one: counted with findall
    pieces = [w for ws in keywords.values() for w in ws if w] + ["NEG_", " ", "  ", "-", "_", "x", "ы", ".", "связь",
                                                                  "commerce", "fi", "team", "ка"]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 14))) for _ in range(20000)]
    for t in texts:
        assert counter(t) == [len(p.findall(t)) for _, p in patterns], t


# -- heads -----------------------------------------------------------------------------------------
def test_touchpoint_heads_scored_together_equal_one_by_one(model, corpus):
    det = model.detector_
    X = model.featurizer_.transform(_norms(corpus[:4000]))

    def one_by_one(X):
        out = np.empty((X.shape[0], len(det.estimators_)))
        for j, est in enumerate(det.estimators_):
            out[:, j] = est if isinstance(est, float) else est.predict_proba(X)[:, 1]
        return out

    assert np.array_equal(det.predict_proba(X), one_by_one(X))
    dense = X[:40].toarray()  # dense input (encoder features): scored by scikit-learn, label by label
    assert np.array_equal(det.predict_proba(dense), one_by_one(dense))
    assert "_stack_cache" not in pickle.loads(pickle.dumps(det)).__dict__


# -- whole rows ------------------------------------------------------------------------------------
def _reference_predict(pipe: CommentPipeline, docs: list[Document]) -> list[dict]:
    """Prediction rows computed the straightforward way: the spaCy pipeline, scikit-learn transforms,
    findall keyword counts, one scikit-learn call per head, numpy scalars read row by row."""
    assert pipe.model_type == "fast" and pipe.clause_pooling == "none"
    seg, langid, f = Segmenter(), LanguageIdentifier(languages=tuple(pipe.languages)), pipe.featurizer_

    def proba(X):
        out = np.empty((X.shape[0], len(pipe.detector_.estimators_)))
        for j, est in enumerate(pipe.detector_.estimators_):
            out[:, j] = est if isinstance(est, float) else est.predict_proba(X)[:, 1]
        return out

    def row(d, lang, scores, label, tps, warnings):
        return prediction_row(id=d.id, lang=lang, sentiment=label, sentiment_scores=scores, touchpoints=tps,
                              model_name=pipe.name, model_version=pipe.version, warnings=warnings)

    rows: list = [None] * len(docs)
    live = [k for k, d in enumerate(docs) if d.text.strip()]
    for k, d in enumerate(docs):
        if not d.text.strip():
            rows[k] = row(d, UNKNOWN, {"neutral": 1.0}, "neutral", [], ["empty text: nothing to classify"])
    texts, langs, proc, warns = [], [], [], []
    for k in live:
        d = docs[k]
        text, note = truncate(d.text)
        w = [note] if note else []
        if d.lang and d.lang in pipe.languages:
            lang = plang = d.lang
        else:
            res = langid.detect(text)
            lang, plang = res.lang, res.processing_lang
            if d.lang and d.lang not in pipe.languages:
                w.append(f"lang '{d.lang}' is not one of the configured languages {list(pipe.languages)}; detected")
            if res.warning and text.strip():
                w.append(res.warning)
        texts.append(text)
        langs.append(lang)
        proc.append(plang)
        warns.append(w)
    analyses = seg.analyze_many_spacy(texts, proc)
    X_doc = _reference_features(f, [a.norm for a in analyses])
    prob = proba(X_doc)
    raw = pipe.sentiment_.predict_proba(X_doc)
    sent = np.zeros((raw.shape[0], len(SENTIMENTS)))
    for q, c in enumerate(pipe.sentiment_.classes_):
        sent[:, SENTIMENTS.index(c)] = raw[:, q]
    rel = prob / pipe.detector_.thresholds_
    hits = np.argwhere(rel >= 1.0)
    need = sorted(set(hits[:, 0].tolist()))
    cl_texts, take, starts = [], [], np.full(len(analyses), -1, dtype=int)
    for r in need:
        a = analyses[r]
        starts[r] = len(take)
        if len(a.clauses) > 1:
            take.extend(range(X_doc.shape[0] + len(cl_texts), X_doc.shape[0] + len(cl_texts) + len(a.clauses)))
            cl_texts.extend(a.clause_norms)
        else:
            take.append(r)
    X_all = sp.vstack([X_doc, _reference_features(f, cl_texts)], format="csr") if cl_texts else X_doc
    X_cl = X_all[np.asarray(take, dtype=int)]
    p_cl = proba(X_cl) if take else None
    where = []
    for r, j in hits:
        n_cl = len(analyses[r].clauses)
        where.append((int(r), int(j), int(starts[r] + np.argmax(p_cl[starts[r]: starts[r] + n_cl, j]))))
    P = None
    if where:
        raw_p = pipe.polarity_.predict_proba(X_cl[[c for _, _, c in where]], [pipe.labels_[j] for _, j, _ in where])
        P = np.zeros((len(where), len(PREDICTED_POLARITIES)))
        for q, c in enumerate(pipe.polarity_.classes_):
            P[:, PREDICTED_POLARITIES.index(c)] = raw_p[:, q]
        w = pipe.polarity_doc_weight_
        if w:
            S = sent[np.asarray([r for r, _, _ in where], dtype=int)]
            P = (1.0 - w) * P + w * (S[:, :3] + S[:, 3:4] * P)
    tps_per_doc: list[list[dict]] = [[] for _ in live]
    for n, (r, j, c) in enumerate(where):
        span = analyses[r].clauses[c - starts[r]]
        polarity, conf = PREDICTED_POLARITIES[int(np.argmax(P[n]))], float(prob[r, j]) * float(P[n].max())
        tps_per_doc[r].append({"touchpoint": pipe.labels_[j], "polarity": polarity, "confidence": round(conf, 4),
                               "evidence": {"start": span.start, "end": span.end, "text": span.text}})
    for r, k in enumerate(live):
        scores = {c: float(sent[r, q]) for q, c in enumerate(SENTIMENTS)}
        tps = sorted(tps_per_doc[r], key=lambda t: -t["confidence"])
        rows[k] = row(docs[k], langs[r], scores, max(scores, key=scores.get), tps, warns[r])
    return rows


def test_prediction_rows_equal_the_reference(model, corpus):
    rng = random.Random(3)
    docs = []
    for i, t in enumerate(corpus[:2600] + EDGE + ["Доставка супер"] * 3 + ["  ", "😡😡😡"]):
        lang = rng.choice([None, None, None, "ru", "en", "xx"])
        docs.append(Document(id=f"d{i}", text=t, lang=lang))
    docs.append(Document(id="long", text="Доставка опять задержалась, менеджер не отвечает. " * 600))
    rows = model.predict(docs, batch_size=256)
    reference = _reference_predict(model, docs)
    assert len(rows) == len(reference)
    for a, b in zip(rows, reference):
        assert a == b, (a["id"], a, b)
    assert sum(len(r["touchpoints"]) for r in rows) > len(docs) // 2  # the comparison covers many touchpoints


def test_caches_are_not_pickled_and_a_loaded_model_predicts_the_same(model):
    texts = _seed_texts()[:300]
    before = model.predict(texts)
    state = pickle.dumps(model)
    clone = pickle.loads(state)
    assert "_char_cache" not in clone.featurizer_.__dict__ and "_kw_counter" not in clone.featurizer_.__dict__
    assert "_stack_cache" not in clone.detector_.__dict__
    assert clone.predict(texts) == before
    assert len(state) < len(pickle.dumps(clone.featurizer_)) + 10 ** 7  # no cache blew the pickle up
