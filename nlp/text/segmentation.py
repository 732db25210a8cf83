"""Normalisation and segmentation: spaCy blank ``ru``/``en`` tokenizers + sentencizer, a pymorphy3
lemmatizer for Russian, and a clause splitter at contrastive links (но, однако, а, зато, хотя, but,
however, although, while ...) so that each touchpoint label can point at its own evidence span.

All spans are character offsets into the *original* text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import spacy
from spacy.attrs import IS_ALPHA, IS_PUNCT, IS_SPACE, LOWER
from spacy.tokens import Doc

from ..schema import MAX_TEXT_CHARS
from . import lemmatizer as _lemmatizer  # noqa: F401  (registers the spaCy factory)

#: words that open a new clause anywhere in a sentence
CONTRAST_ALWAYS = {
    "ru": {"но", "однако", "зато", "хотя", "хотя", "впрочем", "правда", "тем не менее"},
    "en": {"but", "however", "although", "though", "whereas", "nevertheless", "unfortunately", "except"},
}
#: words that open a new clause only after a comma / dash / semicolon
CONTRAST_AFTER_PUNCT = {
    "ru": {"а", "только", "хоть", "еще", "ещё", "плюс", "минус", "кроме", "причем", "причём", "и"},
    "en": {"while", "yet", "and", "plus", "also", "only"},
}
CLAUSE_PUNCT = {";", "—", "–", "-", ":", "(", ")"}
SPLIT_PUNCT = {";"}
MIN_CLAUSE_CHARS = 3

_WS = re.compile(r"\s+")
_NEG_RU = {"не", "нет", "ни", "без", "никогда", "нисколько"}
_NEG_EN = {"not", "no", "never", "n't", "without", "nothing", "nobody", "hardly"}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass
class Analysis:
    """One comment after segmentation."""

    text: str  #: the (possibly truncated) original text
    lang: str  #: processing language
    clauses: list[Span] = field(default_factory=list)
    norm: str = ""  #: normalised lemma string of the whole text (features)
    clause_norms: list[str] = field(default_factory=list)


def normalize_token(tok: str) -> str:
    return tok.lower().replace("ё", "е")


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, str | None]:
    if len(text) <= limit:
        return text, None
    return text[:limit], f"text truncated from {len(text)} to {limit} characters"


class Segmenter:
    """Tokenise, lemmatise and split comments into sentences and clauses.

    ``lemmatize``: use pymorphy3 lemmas for Russian (word features become inflection-independent).
    ``mark_negation``: prefix the two words after a negation with ``NEG_`` in the normalised string.
    """

    def __init__(self, *, lemmatize: bool = True, mark_negation: bool = True) -> None:
        self.lemmatize = lemmatize
        self.mark_negation = mark_negation

    def __getstate__(self):
        return {"lemmatize": self.lemmatize, "mark_negation": self.mark_negation}

    def __setstate__(self, state):
        self.__dict__.update(state)

    @cached_property
    def _pipelines(self) -> dict[str, spacy.Language]:
        out = {}
        for lang in ("ru", "en"):
            nlp = spacy.blank(lang)
            nlp.add_pipe("sentencizer")
            if lang == "ru" and self.lemmatize:
                nlp.add_pipe("cxlens_pymorphy3_lemmatizer")
            out[lang] = nlp
        return out

    def _nlp(self, lang: str) -> spacy.Language:
        return self._pipelines.get(lang) or self._pipelines["en"]

    @cached_property
    def _chunkers(self) -> dict[str, "_ChunkTokenizer"]:
        return {lang: _ChunkTokenizer(nlp, lemmas=lang == "ru" and self.lemmatize) for lang, nlp in self._pipelines.items()}

    def analyze_many(self, texts: list[str], langs: list[str], *, batch_size: int = 256) -> list[Analysis]:
        """``batch_size`` is kept for callers; tokens come from :class:`_ChunkTokenizer` (the same as the
        spaCy pipeline's, see :meth:`analyze_many_spacy`), one text at a time."""
        chunkers = self._chunkers
        out = []
        for text, lang in zip(texts, langs):
            lang = lang if lang in ("ru", "en") else "en"
            out.append(self._analysis_tokens(text, chunkers[lang].tokens(text), lang))
        return out

    def analyze_many_spacy(self, texts: list[str], langs: list[str], *, batch_size: int = 256) -> list[Analysis]:
        """The same as :meth:`analyze_many` through the full spaCy pipeline (tokenizer, sentencizer, pymorphy3
        lemmatizer component): the reference the fast path is tested against."""
        out: list[Analysis | None] = [None] * len(texts)
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_lang.setdefault(lang if lang in ("ru", "en") else "en", []).append(i)
        for lang, idx in by_lang.items():
            docs = self._nlp(lang).pipe((texts[i] for i in idx), batch_size=batch_size)
            for i, doc in zip(idx, docs):
                out[i] = self._analysis(doc, lang)
        return out  # type: ignore[return-value]

    def analyze(self, text: str, lang: str) -> Analysis:
        return self.analyze_many([text], [lang])[0]

    # -- internals -------------------------------------------------------------------------------
    def _norm_range(self, tok: "_Tokens", a: int, b: int, neg: set[str]) -> str:
        """Normalised string (lemmas, ``NEG_`` marks) of tokens ``a:b``; negation scope starts fresh."""
        out, pending = [], 0
        for i in range(a, b):
            text = tok.text[i]
            if tok.space[i] or tok.punct[i] and text not in ("!", "?"):
                pending = 0 if text in (".", ",", ";") else pending
                continue
            lemma = tok.norm[i]
            if self.mark_negation and pending and lemma not in neg and tok.alpha[i]:
                out.append("NEG_" + lemma)
                pending -= 1
            else:
                out.append(lemma)
            if self.mark_negation and lemma in neg:
                pending = 2
        return " ".join(out)

    def _analysis(self, doc: Doc, lang: str) -> Analysis:
        """Analysis of a spaCy ``Doc`` that went through the pipeline (sentencizer, lemmatizer)."""
        return self._analysis_tokens(doc.text, _Tokens(doc, lemmas=lang == "ru"), lang,
                                     [(s.start, s.end) for s in doc.sents])

    def _analysis_tokens(self, text: str, tok: "_Tokens", lang: str,
                         sents: list[tuple[int, int]] | None = None) -> Analysis:
        """Clauses, spans and normalised strings of a tokenised text; ``sents``: token ranges of the
        sentences (default: :func:`sentence_ranges`, the rule of spaCy's sentencizer)."""
        neg = _NEG_RU if lang == "ru" else _NEG_EN
        low = tok.lower
        clauses: list[tuple[int, int]] = []  # token index ranges
        always, after = CONTRAST_ALWAYS.get(lang, set()), CONTRAST_AFTER_PUNCT.get(lang, set())
        n_tok = len(tok.text)
        for sent_start, sent_end in (sentence_ranges(tok) if sents is None else sents):
            start = sent_start
            for i in range(sent_start + 1, sent_end):
                cut = low[i] in always or (low[i] in after and tok.text[i - 1] in {",", "—", "–", "-", ";", "("})
                if tok.text[i] in SPLIT_PUNCT:
                    clauses.append((start, i))
                    start = i + 1
                    continue
                if cut and i > start:
                    end = i - 1 if tok.punct[i - 1] else i
                    clauses.append((start, max(end, start + 1) if end > start else i))
                    start = i
            clauses.append((start, sent_end))
        spans: list[Span] = []
        norms: list[str] = []
        for a, b in clauses:
            if b <= a:
                continue
            lead = a
            while lead < b - 1 and (tok.punct[lead] or low[lead] in always or low[lead] in after):
                lead += 1  # the evidence span starts after a leading "но" / "but" / "а вот"
            if lead < b - 1 and low[lead] in {"вот", "ведь"} and lead > a:
                lead += 1
            s, e = tok.idx[lead], tok.idx[b - 1] + len(tok.text[b - 1])
            # trim whitespace and trailing punctuation from the span
            while s < e and (text[s].isspace() or text[s] in ",;—–-:"):
                s += 1
            while e > s and (text[e - 1].isspace() or text[e - 1] in ",;—–-:("):
                e -= 1
            if e - s < MIN_CLAUSE_CHARS and spans:
                continue
            if e <= s:
                continue
            spans.append(Span(s, e, text[s:e]))
            norms.append(self._norm_range(tok, a, b, neg))
        norm = self._norm_range(tok, 0, n_tok, neg)
        if not spans:
            s = len(text) - len(text.lstrip())
            e = len(text.rstrip())
            spans = [Span(s, max(e, s), text[s:e])]
            norms = [norm]
        return Analysis(text=text, lang=lang, clauses=spans, norm=norm, clause_norms=norms)


class _Tokens:
    """Token attributes as plain lists, read once (a spaCy ``Token`` object is created on every access,
    which was a fifth of the prediction time). ``sent_punct``: the token is one of the sentencizer's
    sentence-final characters (only set by :class:`_ChunkTokenizer`)."""

    __slots__ = ("text", "lower", "norm", "idx", "punct", "space", "alpha", "sent_punct")

    def __init__(self, doc: Doc | None = None, *, lemmas: bool = False) -> None:
        self.text, self.lower, self.norm, self.idx = [], [], [], []
        self.punct, self.space, self.alpha = [], [], []
        self.sent_punct: list[bool] | None = None
        if doc is None:
            return
        for t in doc:
            self.text.append(t.text)
            self.lower.append(t.lower_)
            self.norm.append(normalize_token(t.lemma_ or t.text) if lemmas else normalize_token(t.text))
            self.idx.append(t.idx)
            self.punct.append(t.is_punct)
            self.space.append(t.is_space)
            self.alpha.append(t.is_alpha)


def sentence_ranges(tok: _Tokens) -> list[tuple[int, int]]:
    """Token ranges of the sentences, by the rule of spaCy's ``sentencizer`` (``Sentencizer.predict``): a
    sentence starts at the first token after a sentence-final character that is neither punctuation nor
    another such character."""
    n = len(tok.text)
    if n == 0:
        return []
    starts = [0]
    seen_period = False
    punct, final = tok.punct, tok.sent_punct
    for i in range(n):
        if final[i]:
            seen_period = True
        elif seen_period and not punct[i]:
            starts.append(i)
            seen_period = False
    starts.append(n)
    return list(zip(starts, starts[1:]))


#: runs of whitespace / of other characters, the spans spaCy's tokenizer cuts a text into
_RUNS = re.compile(r"\s+|\S+")
_OTHER_WHITESPACE = re.compile(r"[^\S ]|  ")  # whitespace other than single spaces
#: cached chunks per language before the cache starts afresh (bounds the memory of long streams)
_CHUNK_CACHE_MAX = 100_000
#: chunks of these letters only are one token wherever no prefix, suffix or infix rule can match letters
#: (:func:`_letters_only_safe`): most words of a text, tokenised without the tokenizer's regexes
_PLAIN_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZабвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
_PLAIN_WORD = re.compile(f"[{_PLAIN_LETTERS}]+")


def _class_admits(items: list, chars: str) -> bool:
    """Whether the parsed character class ``items`` (``re._parser`` ``IN`` operands) admits one of ``chars``;
    ``True`` where it uses a construct this does not read (so callers stay on the safe side)."""
    from re import _constants as C

    negate = bool(items) and items[0][0] is C.NEGATE
    tests = []
    for op, av in items[1:] if negate else items:
        if op is C.LITERAL:
            tests.append(lambda ch, c=av: ord(ch) == c)
        elif op is C.RANGE:
            tests.append(lambda ch, lo=av[0], hi=av[1]: lo <= ord(ch) <= hi)
        elif op is C.CATEGORY and av in (C.CATEGORY_DIGIT, C.CATEGORY_SPACE):
            tests.append(lambda ch: False)  # our letters are neither digits nor spaces
        else:
            return True
    return any(any(t(ch) for t in tests) != negate for ch in chars)


def _can_match_letters(seq: list, chars: str) -> bool:
    """Whether the parsed regex ``seq`` could match (a non-empty part of) a string made only of ``chars``,
    searched on its own (nothing before or after it). ``False`` only where every way through it must
    consume or look at a character outside ``chars``; anything it does not read counts as a possible match."""
    from re import _constants as C

    for op, av in seq:
        if op is C.LITERAL:
            if chr(av) not in chars:
                return False
        elif op is C.IN:
            if not _class_admits(av, chars):
                return False
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            if av[0] >= 1 and not _can_match_letters(av[2], chars):
                return False
        elif op is C.SUBPATTERN:
            if av[1] & re.IGNORECASE:
                return True  # a scoped (?i:...): its literals also match other cases (not read here)
            if not _can_match_letters(av[3], chars):
                return False
        elif op is C.BRANCH:
            if not any(_can_match_letters(b, chars) for b in av[1]):
                return False
        elif op is C.ASSERT:  # a look-ahead/-behind reads characters too: they must be there
            if not _can_match_letters(av[1], chars):
                return False
        elif op in (C.AT, C.ASSERT_NOT):
            continue  # zero-width: ignoring it only widens what may match
        else:
            return True  # not read: possibly a match
    return True


def _letters_only_safe(tokenizer) -> bool:
    """Whether no prefix, suffix or infix rule of ``tokenizer`` can match inside a chunk of
    :data:`_PLAIN_LETTERS`: such a chunk is then one token (unless it is a special case), by
    ``Tokenizer._split_affixes`` and ``_attach_tokens``. Read from the compiled patterns themselves, so a
    spaCy or language whose rules do cut letters (or are not plain ``re`` patterns) keeps the full replay."""
    from re import _parser

    for fn in (tokenizer.prefix_search, tokenizer.suffix_search, tokenizer.infix_finditer):
        if fn is None:
            continue
        pattern = getattr(fn, "__self__", None)
        if not isinstance(pattern, re.Pattern) or not isinstance(pattern.pattern, str):
            return False
        try:
            parsed = _parser.parse(pattern.pattern, pattern.flags)
        except Exception:  # noqa: BLE001 - a pattern this cannot read: no shortcut
            return False
        if pattern.flags & re.IGNORECASE or _can_match_letters(list(parsed), _PLAIN_LETTERS):
            return False
    return True


class _ChunkTokenizer:
    """spaCy's tokenizer, its sentencizer and the pymorphy3 lemmatizer component as one lookup per
    whitespace-delimited chunk of the text, with the same tokens and attributes.

    spaCy tokenises a text chunk by chunk (``Tokenizer._tokenize_affixes``: runs of whitespace and of
    other characters; one ``" "`` after a word is the word's trailing space, other whitespace becomes a
    token), and the result of a chunk does not depend on its neighbours, except through the special-case
    matcher that then runs over the whole ``Doc`` (special cases such as ``"в т.ч."`` span chunks). So each
    chunk is tokenised once (by :meth:`_split`, spaCy's rules replayed, or where a special case takes part by
    spaCy itself) and its token attributes are cached; a text in which two neighbouring chunks could take
    part in one special case (any pair of consecutive tokens of a special case's tokenisation) is tokenised
    whole by spaCy instead. The sentencizer's rule is
    :func:`sentence_ranges`; lemmas are :func:`nlp.text.lemmatizer.lemma_ru` of the lowercased alphabetic
    tokens, as the ``cxlens_pymorphy3_lemmatizer`` component sets them.
    """

    def __init__(self, nlp: spacy.Language, *, lemmas: bool) -> None:
        self.tokenizer = nlp.tokenizer
        self.lemmas = lemmas
        self.final_chars = frozenset(nlp.get_pipe("sentencizer").punct_chars)
        self.pairs = _special_case_pairs(nlp)
        self.specials = frozenset(nlp.tokenizer.rules or {})
        self.getters = nlp.vocab.lex_attr_getters
        self.cache: dict[str, tuple] = {}
        self.plain_words = _letters_only_safe(self.tokenizer)

    def _norm(self, text: str, lower: str, alpha: bool) -> str:
        if not self.lemmas:
            return normalize_token(text)
        lemma = _lemmatizer.lemma_ru(lower) if alpha else lower
        return normalize_token(lemma or text)

    def _split(self, chunk: str) -> list[str] | None:
        """The token texts spaCy's tokenizer makes of ``chunk`` (a run of non-space characters), by its own
        rules: ``Tokenizer._split_affixes`` (prefixes and suffixes off, until none is left or the rest is a
        ``token_match``) and ``_attach_tokens`` (the rest kept whole or cut at infixes). ``None`` where a
        special case takes part (the chunk, a part left after a prefix or suffix, or a token is one, or two
        neighbouring tokens could form one): spaCy then tokenises the chunk itself."""
        tk, specials = self.tokenizer, self.specials
        plain = _PLAIN_WORD.fullmatch if self.plain_words else None
        if plain is not None and plain(chunk):
            return None if chunk in specials else [chunk]  # what the rules below give such a chunk
        token_match, url_match = tk.token_match, tk.url_match
        prefixes: list[str] = []
        suffixes: list[str] = []
        string = chunk
        last_size = 0
        letters = False  # ``string`` is plain letters: no prefix, suffix or infix rule can cut it
        while string and len(string) != last_size:
            if token_match and token_match(string):
                break
            if string in specials:
                return None
            if plain is not None and plain(string):
                letters = True
                break  # the rules below would find no prefix or suffix: the loop would end here
            last_size = len(string)
            pre_len = tk.find_prefix(string)
            if pre_len != 0:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and minus_pre in specials:
                    return None
            suf_len = tk.find_suffix(string[pre_len:])
            if suf_len != 0:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    return None
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if string:
            if string in specials:
                return None
            matches = None
            if not (letters or (token_match and token_match(string)) or (url_match and url_match(string))):
                matches = tk.find_infix(string)
            if not matches:
                out.append(string)
            else:
                start = start_before_infixes = 0
                for match in matches:
                    infix_start, infix_end = match.start(), match.end()
                    if infix_start == start_before_infixes:
                        continue
                    if infix_start != start:
                        out.append(string[start:infix_start])
                    if infix_start != infix_end:
                        out.append(string[infix_start:infix_end])
                    start = infix_end
                if string[start:]:
                    out.append(string[start:])
        out.extend(reversed(suffixes))
        if "".join(out) != chunk or any(t in specials for t in out) or any(p in self.pairs for p in zip(out, out[1:])):
            return None
        return out

    def _chunk(self, chunk: str) -> tuple:
        """(relative offsets, texts, lowers, norms, punct, space, alpha, sentence-final) of a chunk's tokens.
        Tokens come from :meth:`_split` with the lexeme attributes from the vocabulary's own getters
        (creating spaCy lexemes and Docs for new words was a third of the first pass over new text), or,
        where a special case takes part, from spaCy's tokenizer."""
        cols: tuple[list, ...] = ([], [], [], [], [], [], [], [])
        parts = None if chunk.isspace() else self._split(chunk)
        if parts is not None:
            get, idx = self.getters, 0
            for text in parts:
                lower, alpha = get[LOWER](text), bool(get[IS_ALPHA](text))
                for col, v in zip(cols, (idx, text, lower, self._norm(text, lower, alpha), bool(get[IS_PUNCT](text)),
                                         bool(get[IS_SPACE](text)), alpha, text in self.final_chars)):
                    col.append(v)
                idx += len(text)
        else:
            for t in self.tokenizer(chunk):
                text, lower, alpha = t.text, t.lower_, t.is_alpha
                for col, v in zip(cols, (t.idx, text, lower, self._norm(text, lower, alpha), t.is_punct, t.is_space,
                                         alpha, text in self.final_chars)):
                    col.append(v)
        entry = tuple(tuple(c) for c in cols)
        if len(self.cache) >= _CHUNK_CACHE_MAX:
            self.cache.clear()
        self.cache[chunk] = entry
        return entry

    def tokens(self, text: str) -> _Tokens:
        cache, pairs = self.cache, self.pairs
        if text and _OTHER_WHITESPACE.search(text) is None and text[0] != " " and text[-1] != " ":
            # the common case: words separated by one space, each space a word's trailing space
            chunks = text.split(" ")
            starts, pos = [], 0
            for c in chunks:
                starts.append(pos)
                pos += len(c) + 1
            entries = [cache.get(c) or self._chunk(c) for c in chunks]
        else:
            entries, starts = [], []
            pos = 0
            prev_word = False  # the previous run was not whitespace
            for run in _RUNS.findall(text):
                start = pos
                pos += len(run)
                chunk = run
                if prev_word and run[0] == " ":  # one space after a word is that word's trailing space
                    chunk = run[1:]
                    start += 1
                    prev_word = False
                    if not chunk:
                        continue
                else:
                    prev_word = not run[0].isspace()
                entry = cache.get(chunk) or self._chunk(chunk)
                if entry[0]:
                    entries.append(entry)
                    starts.append(start)
        tok = _Tokens()
        tok.sent_punct = []
        texts, lowers, norms, idxs = tok.text, tok.lower, tok.norm, tok.idx
        puncts, spaces, alphas, finals = tok.punct, tok.space, tok.alpha, tok.sent_punct
        last = None  # text of the last token so far
        for start, entry in zip(starts, entries):
            rel, ctext = entry[0], entry[1]
            if last is not None and (last, ctext[0]) in pairs:
                return self._whole(text)
            last = ctext[-1]
            if len(rel) == 1:
                idxs.append(start)
            else:
                idxs.extend([start + r for r in rel])
            texts.extend(ctext)
            lowers.extend(entry[2])
            norms.extend(entry[3])
            puncts.extend(entry[4])
            spaces.extend(entry[5])
            alphas.extend(entry[6])
            finals.extend(entry[7])
        return tok

    def _whole(self, text: str) -> _Tokens:
        """Tokens of ``text`` tokenised whole by spaCy (special cases across chunks)."""
        tok = _Tokens()
        tok.sent_punct = []
        for t in self.tokenizer(text):
            chunk = self._token_attrs(t)
            tok.text.append(chunk[0])
            tok.lower.append(chunk[1])
            tok.norm.append(chunk[2])
            tok.idx.append(t.idx)
            tok.punct.append(t.is_punct)
            tok.space.append(t.is_space)
            tok.alpha.append(chunk[3])
            tok.sent_punct.append(chunk[0] in self.final_chars)
        return tok

    def _token_attrs(self, t) -> tuple[str, str, str, bool]:
        text, lower, alpha = t.text, t.lower_, t.is_alpha
        return text, lower, self._norm(text, lower, alpha), alpha


def _special_case_pairs(nlp: spacy.Language) -> frozenset[tuple[str, str]]:
    """Every pair of consecutive token texts in the tokenisations of the tokenizer's special cases that
    its special-case matcher looks for across tokens (``Tokenizer.add_special_case``), with and without
    the special cases applied: two chunks whose boundary tokens form no such pair cannot be joined or
    re-split by the matcher."""
    from spacy.tokenizer import Tokenizer

    tk = nlp.tokenizer
    bare = Tokenizer(nlp.vocab, rules={}, prefix_search=tk.prefix_search, suffix_search=tk.suffix_search,
                     infix_finditer=tk.infix_finditer, token_match=tk.token_match, url_match=tk.url_match)
    pairs: set[tuple[str, str]] = set()
    for string in tk.rules or {}:
        if not (not tk.faster_heuristics or tk.find_prefix(string) or tk.find_infix(string)
                or tk.find_suffix(string) or " " in string):
            continue
        for t in (bare, tk):
            toks = [x.text for x in t(string)]
            pairs.update(zip(toks, toks[1:]))
    return frozenset(pairs)
