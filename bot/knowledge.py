"""Domain: answering a free-text question from the curated knowledge (pure, in memory).

People ask in their own words ("er wordt vanuit een woning gedeald, wat kan ik doen?", "174a
gemw", "huisverbot"), so the search understands Dutch rather than matching strings:

- *normalisation*: case and accents do not matter;
- *legal articles* become one token whatever the spelling ("art. 13b", "13b Opiumwet", "artikel
  174a Gemw" → `§13b`, `§174a`);
- *abbreviations* (OvJ, RIEC, Wpg) expand to what they stand for, and every *synonym group* of
  the content's table becomes one concept token on both sides, so "damocles" finds an entry that
  only says "drugspand";
- a Dutch *stemmer* (Snowball) folds inflections; *compounds* are split when both parts are words
  of the knowledge ("drugspand" → drugs + pand, "hennepkwekerij" → hennep + kwekerij);
- *typos* in words the knowledge does not know are corrected against its vocabulary
  ("huisverbot" → huisverbod);
- ranking is BM25 (the `bm25s` library) over weighted fields: title, synonyms and legal basis
  weigh most, the example questions next (both as one field and as the best single question),
  the body text least.

The score of the best entry is turned into a confidence in [0, 1] from how much of the question
the entry covers (IDF-weighted share of the question's content words) and how clearly it beats
the runner-up. Below `CONFIDENT` the bot says it does not know instead of guessing; close
candidates are offered as "Bedoelde je …".

Everything here is deterministic: the same documents and question give the same answer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np
import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

# A hit at or above this confidence is the answer. Chosen with `python -m bench.eval --sweep
# --cross-validate` on the dev set (tests/data/ask_dev.yaml): its out-of-scope questions peak at
# 0.32 and leaving folds out picks 0.33-0.40; 0.45 also clears a second set of out-of-scope
# questions written before the dev set existed (peak 0.43), at the price of a few more
# "Bedoelde je …" answers.
CONFIDENT = 0.45
# Candidates whose coverage of the question (x relative score x MARGIN_FLOOR) is below this are
# not worth offering as "Bedoelde je …".
ALTERNATIVE_MIN = 0.2
# When the answer is confident, a runner-up whose BM25 score is this close is still offered.
CLOSE_RATIO = 0.85
MAX_ALTERNATIVES = 3
# Coverage (for confidence and ties) is computed for this many of the best entries by BM25.
CANDIDATE_POOL = 10
# Confidence = coverage of the question by the entry x how clearly it beats the runner-up: a
# tie keeps MARGIN_FLOOR of the coverage, a lead of MARGIN_FULL (relative BM25) or more all.
MARGIN_FLOOR = 0.55
MARGIN_FULL = 0.25

# Field weights: the curated names of an entry say more than its body text.
FIELD_WEIGHTS: dict[str, float] = {
    "name": 2.0,  # title, synonyms, legal basis
    "questions": 1.0,  # all example questions as one field
    "best_question": 2.0,  # the single example question closest to the question asked
    "body": 0.6,  # answer, applies_when, steps, pitfalls ...
}
# BM25 saturation and length normalisation (Lucene's defaults are k1=1.2, b=0.75).
BM25_K1 = 0.9
BM25_B = 0.9
# A synonym concept or a split-off compound part in the question weighs less than the word itself.
CONCEPT_WEIGHT = 1.0
# The most a single question word weighs in the ranking, over all its forms.
WORD_BUDGET = 3.0
PART_WEIGHT = 0.3
# Words that appear in many out-of-scope questions and say little about the subject on their own.
GENERIC_WEIGHT = 0.3
# A word the knowledge does not know at all weighs as much as its rarest word times this: the
# question is probably about something else ("paspoort").
UNKNOWN_WEIGHT = 1.0
# The matched words together must be at least this specific (share of the IDF of a word that
# occurs in one entry only) for full confidence: "rapportage" alone matches almost everything.
INFORMATION_SHARE = 0.3
# A compound of the question found only as its parts in the entry.
PART_CREDIT = 0.5
# A question word found only in an entry's body text shows less that the entry is about it.
BODY_CREDIT = 0.6

# The Snowball "dutch_porter" stemmer (Snowball's classic Dutch algorithm) rather than
# Snowball 3's "dutch": the latter strips the "ge-" prefix and so folds unrelated words together
# ("geweld" → "wel", "gemeente" → "meen", "gegevens" → "geven"). Both score the same hit@1 on the
# dev set; the collisions are a risk for content still to be written. Participles are handled
# separately (`_Analyzer.infinitive`).
STEMMER_ALGORITHM = "dutch_porter"

# Analyzer data: Dutch function words (Snowball's list plus question words) that never decide
# what a question is about.
STOPWORDS = frozenset(
    """
    aan af al alle alles als altijd ander andere anders ben bent bij binnen dan dat de deze die
    dit doch door dus een eens en er ge geen geweest haar had hadden heb hebben hebt heeft hem
    het hier hij hoe hun iemand iets ik in is ja je jij jou jouw jullie kan kon konden kunnen
    kunt maar me meer men met mij mijn moet moeten na naar niet niets nog nu of om omdat onder
    ons onze ook op over reeds te tegen toch toen tot u uit uw van veel voor want waren was wat
    we wel welk welke wie wij wil wilt willen worden wordt werd zal ze zei zelf zich zij zijn zo
    zonder zou zouden zullen zulke waar wanneer waarom waarmee waarvoor waardoor hoeveel hoelang
    hoezo eigenlijk precies graag even mag mogen mocht mogelijk kun krijg krijgt krijgen ga gaat
    gaan doe doet doen gedaan word geworden daar daarvoor daarmee daarna hierover erover ervan
    eraan erbij ermee eerst dan toe zit zitten staat staan er iets elk elke ieder iedere zoals
    via per sinds tijdens dus nou oke ok hallo hoi beste dank bedankt alvast please svp aub
    vraag vragen vraagje weet weten zeg zeggen moeten artikel art artikelen lid weer
    vandaag morgen gisteren ooit vaak soms nooit straks zometeen bv bijv mee
    """.split()
)
# Content words that are too general to carry a question on their own ("hoe vraag ik ... aan",
# "wat moet de gemeente regelen"): they rank, but a confident answer needs more than these.
GENERIC = frozenset(
    """
    aanvraag aanvragen aanvraagt regelen regel geregeld nodig informatie gemeente gemeenten
    burgemeester politie mensen persoon personen iemand hulp helpen goed manier situatie geval
    zaak zaken werkt werken werk tijd dag dagen week weken jaar lang kort snel nieuw nieuwe
    soort soorten doel vinden vind maken gebruik gebruiken nummer contact wet wetten regels
    """.split()
)
# Everyday Dutch words that a question may contain without them being its subject. A word the
# knowledge does not know usually weighs heavily against a confident answer ("paspoort",
# "zonnepanelen": the question is about something else); these weigh little, so a long,
# chatty question about a known subject can still be answered.
COMMON = frozenset(
    """
    goedemorgen goedemiddag goedenavond middag avond ochtend nacht maand maanden jaren uur uren
    keer keren moment laatst laatste eerste tweede derde beetje weinig groot grote klein kleine
    oud oude goede slecht slechte echt heel erg best vrij wellicht misschien waarschijnlijk
    helaas gewoon zeker natuurlijk inmiddels ondertussen alweer steeds telkens regelmatig
    meestal mens man vrouw kind kinderen buurt wijk straat stad dorp thuis collega collegas
    baas team afdeling komen komt kwam kwamen gekomen zien ziet zag gezien kijken kijk keek
    horen hoor hoorde gehoord denken denk dacht gedacht vond gevonden wist zegt gezegd vertellen
    vertelt wilde proberen probeer probeert lukt lukken gebeurt gebeuren gebeurd help maakt
    maakte gemaakt nemen neemt nam genomen zetten zet zette gezet laten laat liet gelaten houden
    houdt hield gehouden brengen brengt bracht gebracht lopen loopt liep gelopen bellen bel
    belde gebeld mailen mail sturen stuur stuurde gestuurd zoeken zoek zocht gezocht beginnen
    begin begon starten start stoppen stop wachten wacht wachtte probleem problemen antwoord
    ding dingen gevallen reden redenen idee vraagt vroeg gevraagd snap snappen begrijp begrijpen
    precies duidelijk lastig moeilijk makkelijk handig nuttig belangrijk mogelijkheid
    mogelijkheden optie opties kans beter beste meeste minder minst eerder later nadat voordat
    terwijl zodra totdat hierbij daarbij waarbij hiervoor hiermee bijvoorbeeld ongeveer bijna
    """.split()
)
# Laws people name after an article number ("174 Gemw", "16 Wpg").
LAW_WORDS = frozenset(
    """
    gemw gemeentewet opw opiumwet wpg wjsg awb sr sv wvsr apv bibob pw politiewet wth wet
    """.split()
)

_TOKEN = re.compile(r"\d+:\d+[a-z]?|[a-z0-9]+", re.IGNORECASE)
_ARTICLE_WITH_LETTER = re.compile(r"^\d{2,3}[a-z]$")
_ARTICLE_NUMBER = re.compile(r"^\d{1,3}$")
_ARTICLE_AWB = re.compile(r"^\d+:\d+[a-z]?$")
ARTICLE_PREFIX = "§"
CONCEPT_PREFIX = "≈"
MIN_SPLIT_PART = 3
MIN_COMPOUND = 7
MIN_TYPO_LENGTH = 7
CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class Document:
    id: str
    kind: str  # "bevoegdheid" | "proces"
    title: str
    legal_basis: str
    questions: tuple[str, ...]
    synonyms: tuple[str, ...]
    body: str  # answer / applies_when / steps etc. joined (lower weight)


@dataclass(frozen=True)
class Hit:
    id: str
    title: str
    legal_basis: str
    score: float  # calibrated confidence in [0, 1]


@dataclass(frozen=True)
class SearchResult:
    question: str
    confident: bool  # hits[0] is the answer
    hits: tuple[Hit, ...]  # best first, at most k; empty when nothing matches at all
    # For "Bedoelde je …": plausible candidates when not confident, or a close runner-up when
    # confident; empty otherwise.
    alternatives: tuple[Hit, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Synonym groups and abbreviations from the content's synonym table(s)."""

    groups: tuple[tuple[str, ...], ...] = ()
    abbreviations: Mapping[str, str] = field(default_factory=dict)


def _fold(text: str) -> str:
    """No accents; case kept (abbreviations like "OM" need it)."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(frozen=True)
class _Word:
    """One content word of a question: the tokens that match it fully and those that match it in
    part (compound parts), and how much it counts."""

    surface: str
    full: frozenset[str]
    parts: frozenset[str]
    generic: bool
    # The words an abbreviation stands for: together they weigh as one word in the ranking.
    expansion: frozenset[str] = frozenset()


class _Analyzer:
    """Turns text into index tokens; knows the vocabulary of the documents once built."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self._stemmer = Stemmer.Stemmer(STEMMER_ALGORITHM)
        self._stem_cache: dict[str, str] = {}
        self.abbreviations: dict[str, tuple[str, ...]] = {}
        self._case_sensitive: dict[str, str] = {}
        for short, long in sorted(vocabulary.abbreviations.items()):
            key = _fold(short).lower()
            expansion = tuple(t.lower() for t in _TOKEN.findall(_fold(long)))
            if not key or not expansion:
                continue
            self.abbreviations[key] = expansion
            if key in STOPWORDS:
                # "OM" is an abbreviation, "om" a preposition.
                self._case_sensitive[key] = _fold(short)
        # A synonym term as a sequence of stems, by its first stem → (sequence, concept token).
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for number, group in enumerate(vocabulary.groups):
            concept = f"{CONCEPT_PREFIX}{number}"
            for term in group:
                sequence = tuple(self._stems_plain(term))
                if not sequence or (len(sequence) == 1 and sequence[0] in STOPWORDS):
                    continue
                entries = self._phrases.setdefault(sequence[0], [])
                if (sequence, concept) not in entries:
                    entries.append((sequence, concept))
        for entries in self._phrases.values():
            entries.sort(key=lambda item: (-len(item[0]), item[1]))
        self.known_words: frozenset[str] = frozenset()
        self.known_stems: frozenset[str] = frozenset()
        self._known_sorted: list[str] = []
        self._known_by_initial: dict[str, list[str]] = {}
        # Single-word synonym terms and abbreviations, for correcting short words.
        self._terms_by_initial: dict[str, list[str]] = {}
        terms = {key for key in self.abbreviations if key not in self._case_sensitive}
        for group in vocabulary.groups:
            terms.update(_fold(term).lower() for term in group)
        for term in sorted(terms):
            if term.isalpha() and len(term) >= 4:
                self._terms_by_initial.setdefault(term[0], []).append(term)
        self._split_cache: dict[str, tuple[str, ...]] = {}
        self._correction_cache: dict[str, str | None] = {}
        self._infinitive_cache: dict[str, str] = {}

    # --- building blocks -------------------------------------------------------------------

    def stem(self, word: str) -> str:
        stem = self._stem_cache.get(word)
        if stem is None:
            if word.startswith(ARTICLE_PREFIX) or word.isdigit():
                stem = word
            else:
                stem = self._stemmer.stemWord(word)
            _remember(self._stem_cache, word, stem)
        return stem

    def raw_words(self, text: str) -> list[str]:
        """Lower-case words with legal articles merged into one token ("§13b") and
        abbreviations expanded (the abbreviation itself is kept)."""
        return [word for word, _ in self.grouped_words(text)]

    def grouped_words(self, text: str) -> list[tuple[str, int]]:
        """`raw_words`, each with the position of the word typed: an abbreviation and its
        expansion share it, so "OvJ" counts as one word of the question."""
        originals = _TOKEN.findall(_fold(text))
        lowered = [token.lower() for token in originals]
        words: list[tuple[str, int]] = []
        for index, token in enumerate(lowered):
            previous = lowered[index - 1] if index else ""
            following = lowered[index + 1] if index + 1 < len(lowered) else ""
            if token[0].isdigit() and (
                _ARTICLE_WITH_LETTER.match(token)
                or _ARTICLE_AWB.match(token)
                or (
                    _ARTICLE_NUMBER.match(token)
                    and (
                        previous in {"art", "artikel", "artikelen"}
                        or following in LAW_WORDS
                        or following == "lid"  # "172 lid 3"
                    )
                )
            ):
                words.append((f"{ARTICLE_PREFIX}{token}", index))
                continue
            expansion = self.abbreviations.get(token)
            if expansion is not None and (
                token not in self._case_sensitive or originals[index] == self._case_sensitive[token]
            ):
                words.append((token, index))
                words.extend((word, index) for word in expansion)
                continue
            words.append((token, index))
        return words

    def _stems_plain(self, text: str) -> list[str]:
        return [self.stem(word) for word in self.raw_words(text)]

    def split(self, word: str) -> tuple[str, ...]:
        """The parts of a compound when both are words of the knowledge ("drugspand" → drugs,
        pand); the head (right part) may split again."""
        cached = self._split_cache.get(word)
        if cached is not None:
            return cached
        parts: tuple[str, ...] = ()
        if len(word) >= MIN_COMPOUND and word.isalpha():
            best: tuple[int, int, str, str] | None = None
            for cut in range(MIN_SPLIT_PART, len(word) - MIN_SPLIT_PART + 1):
                left, right = word[:cut], word[cut:]
                if right not in self.known_words or right in STOPWORDS:
                    continue
                if left in self.known_words and left not in STOPWORDS:
                    modifier = left
                elif left.endswith("s") and left[:-1] in self.known_words and cut - 1 >= 3:
                    modifier = left[:-1]  # the linking s: gebied-s-verbod
                else:
                    continue
                candidate = (min(len(modifier), len(right)), len(right), modifier, right)
                if best is None or candidate > best:
                    best = candidate
            if best is not None:
                _, _, modifier, head = best
                parts = (modifier, *(self.split(head) or (head,)))
        _remember(self._split_cache, word, parts)
        return parts

    def correct(self, word: str) -> str | None:
        """A known word for an unknown one: a participle ("gedeald" → dealen) or a typo in a
        long, rare word ("huisverbot" → huisverbod, "fouileren" → fouilleren). Short words are
        left alone: one edit turns "reset" into "rest" and "weer" into "wet"."""
        if word in self._correction_cache:
            return self._correction_cache[word]
        result: str | None = None
        if 4 <= len(word) < MIN_TYPO_LENGTH and word.isalpha():
            # A short word only becomes a term of the synonym table or an abbreviation
            # ("riek" → riec), never an ordinary word.
            match = process.extractOne(
                word,
                self._terms_by_initial.get(word[0], []),
                scorer=Levenshtein.distance,
                score_cutoff=1,
            )
            result = str(match[0]) if match is not None else None
        elif len(word) >= MIN_TYPO_LENGTH and word.isalpha() and self._known_sorted:
            result = self.infinitive(word)
            if result is None:
                limit = 1 if len(word) < 10 else 2
                # Typos rarely hit the first letter; requiring it also keeps this cheap.
                choices = self._known_by_initial.get(word[0], [])
                match = process.extractOne(
                    word, choices, scorer=Levenshtein.distance, score_cutoff=limit
                )
                if match is not None and str(match[0]) not in GENERIC:
                    result = str(match[0])
        _remember(self._correction_cache, word, result)
        return result

    def learn(self, words: Iterable[str]) -> None:
        known = {w for w in words if len(w) >= MIN_SPLIT_PART and w not in STOPWORDS}
        known |= {w for w in words if w.startswith(ARTICLE_PREFIX)}
        self.known_words = frozenset(known)
        self.known_stems = frozenset(self.stem(w) for w in known)
        self._known_sorted = sorted(
            w for w in known if w.isalpha() and len(w) >= MIN_TYPO_LENGTH - 1
        )
        self._known_by_initial = {}
        for known_word in self._known_sorted:
            self._known_by_initial.setdefault(known_word[0], []).append(known_word)
        self._split_cache.clear()
        self._correction_cache.clear()
        self._infinitive_cache.clear()

    # --- documents and questions ---------------------------------------------------------

    def infinitive(self, word: str) -> str | None:
        """The known infinitive of a regular participle ("gedeald" → dealen, "opgelegd" →
        opleggen), so a synonym group with "dealen" also covers "er wordt gedeald"."""
        if "ge" not in word[:6] or len(word) < 6 or not word.isalpha():
            return None
        cached = self._infinitive_cache.get(word)
        if cached is None:
            cached = next(
                (
                    candidate
                    for candidate in _participle_infinitives(word)
                    if candidate in self.known_words and candidate != word
                ),
                "",
            )
            _remember(self._infinitive_cache, word, cached)
        return cached or None

    def _concepts_at(self, sequences: Iterable[Sequence[str]]) -> dict[int, set[str]]:
        """Which concepts each position belongs to, so a synonym phrase matches as a whole."""
        concept_at: dict[int, set[str]] = {}
        for stems in sequences:
            for start, first in enumerate(stems):
                for sequence, concept in self._phrases.get(first, ()):
                    if tuple(stems[start : start + len(sequence)]) == sequence:
                        for position in range(start, start + len(sequence)):
                            concept_at.setdefault(position, set()).add(concept)
        return concept_at

    def document_tokens(self, text: str) -> list[str]:
        words = self.raw_words(text)
        all_stems = [self.stem(w) for w in words]
        infinitives = [self.stem(self.infinitive(w) or w) for w in words]
        concept_at = self._concepts_at((all_stems, infinitives))
        tokens: list[str] = []
        for word, stem, infinitive in zip(words, all_stems, infinitives, strict=True):
            if word in STOPWORDS:
                continue
            tokens.append(stem)
            if infinitive != stem:
                tokens.append(infinitive)
            # Compounds also count for their parts, so "pand sluiten" finds a drugspand.
            tokens += [self.stem(part) for part in self.split(word)]
        for position in sorted(concept_at):
            tokens += sorted(concept_at[position])
        return tokens

    def question_words(self, text: str) -> list[_Word]:
        grouped = self.grouped_words(text)
        corrected: list[str] = []
        for word, _ in grouped:
            if (
                word in STOPWORDS
                or word in self.known_words
                or word.startswith(ARTICLE_PREFIX)
                or self.stem(word) in self.known_stems
                or self.split(word)
            ):
                corrected.append(word)
            else:
                corrected.append(self.correct(word) or word)
        all_stems = [self.stem(w) for w in corrected]
        infinitives = [self.stem(self.infinitive(w) or w) for w in corrected]
        concept_at = self._concepts_at((all_stems, infinitives))
        # One question word per word typed (an abbreviation with its expansion is one word).
        typed: dict[int, tuple[set[str], set[str], list[str], set[str]]] = {}
        seen: set[str] = set()
        for position, (word, stem) in enumerate(zip(corrected, all_stems, strict=True)):
            if word in STOPWORDS or stem in seen:
                continue
            seen.add(stem)
            group = grouped[position][1]
            is_expansion = group in typed
            full, parts, surfaces, expansion = typed.setdefault(group, (set(), set(), [], set()))
            full.update(concept_at.get(position, ()))
            full.add(stem)
            full.add(infinitives[position])
            parts.update(self.stem(p) for p in self.split(word))
            surfaces.append(word)
            if is_expansion:
                expansion.add(stem)
        return [
            _Word(
                surface=" ".join(surfaces),
                full=frozenset(full),
                parts=frozenset(parts - full),
                generic=all(s in GENERIC for s in surfaces),
                expansion=frozenset(expansion),
            )
            for full, parts, surfaces, expansion in typed.values()
        ]


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    """Cache per word; questions are free text, so the caches are bounded."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _participle_infinitives(word: str) -> list[str]:
    """Infinitives a regular participle may come from: "gedeald" → dealen, "opgelegd" →
    opleggen (the bot only needs a candidate to look up, not perfect grammar)."""
    candidates: list[str] = []
    for prefix in ("", "op", "aan", "af", "in", "uit", "door", "toe", "vast"):
        body = word[len(prefix) :]
        if not word.startswith(prefix + "ge") or len(body) < 5:
            continue
        core = body[2:]
        if not core.endswith(("d", "t")):
            continue  # "gebouw", "gevaar": not a regular participle
        core = core[:-1]
        candidates += [prefix + core + "en", prefix + core + core[-1] + "en"]
    return candidates


@dataclass(frozen=True)
class _Field:
    index: bm25s.BM25 | None  # None when the field is empty in every document
    vocabulary: Mapping[str, int]


def _bm25(corpus: list[list[str]]) -> _Field:
    if not any(corpus):
        return _Field(index=None, vocabulary={})
    index = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
    index.index(corpus, show_progress=False)
    return _Field(index=index, vocabulary=dict(index.vocab_dict))


def _field_scores(field_index: _Field, weights: Mapping[str, float], size: int) -> np.ndarray:
    """BM25 scores of every document for weighted query tokens (bm25s's precomputed sparse
    matrix, summed per token: vectorised, no loop over documents)."""
    scores = np.zeros(size, dtype=np.float32)
    if field_index.index is None:
        return scores
    matrix = field_index.index.scores
    data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
    for token, weight in weights.items():
        token_id = field_index.vocabulary.get(token)
        if token_id is None:
            continue
        start, end = indptr[token_id], indptr[token_id + 1]
        np.add.at(scores, indices[start:end], weight * data[start:end])
    return scores


class KnowledgeIndex:
    """The searchable knowledge: build once from the documents, search many times."""

    def __init__(
        self,
        documents: tuple[Document, ...],
        analyzer: _Analyzer,
        fields: dict[str, _Field],
        question_owner: np.ndarray,
        token_sets: tuple[frozenset[str], ...],
        strong_sets: tuple[frozenset[str], ...],
        idf: Mapping[str, float],
    ) -> None:
        self._documents = documents
        self._analyzer = analyzer
        self._fields = fields
        self._question_owner = question_owner
        self._token_sets = token_sets
        self._strong_sets = strong_sets
        self._idf = idf
        self._unknown_idf = math.log(1 + (len(documents) + 0.5) / 0.5)

    @classmethod
    def build(cls, documents: Sequence[Document], vocabulary: Vocabulary) -> KnowledgeIndex:
        ordered = tuple(sorted(documents, key=lambda d: d.id))
        analyzer = _Analyzer(vocabulary)
        known: set[str] = set()
        for document in ordered:
            for text in (
                document.title,
                document.legal_basis,
                document.body,
                *document.questions,
                *document.synonyms,
            ):
                known.update(analyzer.raw_words(text))
        for group in vocabulary.groups:
            for term in group:
                known.update(analyzer.raw_words(term))
        analyzer.learn(known)

        name = [
            analyzer.document_tokens(" . ".join((d.title, d.legal_basis, *d.synonyms)))
            for d in ordered
        ]
        questions = [analyzer.document_tokens(" . ".join(d.questions)) for d in ordered]
        body = [analyzer.document_tokens(d.body) for d in ordered]
        single: list[list[str]] = []
        owner: list[int] = []
        for number, document in enumerate(ordered):
            for question in document.questions:
                single.append(analyzer.document_tokens(question))
                owner.append(number)
        fields = {
            "name": _bm25(name),
            "questions": _bm25(questions),
            "body": _bm25(body),
            "best_question": _bm25(single or [[]]),
        }
        token_sets = tuple(
            frozenset((*n, *q, *b)) for n, q, b in zip(name, questions, body, strict=True)
        )
        strong_sets = tuple(frozenset((*n, *q)) for n, q in zip(name, questions, strict=True))
        frequency: Counter[str] = Counter()
        for tokens in token_sets:
            frequency.update(tokens)
        total = len(ordered)
        idf = {
            token: math.log(1 + (total - count + 0.5) / (count + 0.5))
            for token, count in frequency.items()
        }
        return cls(
            ordered,
            analyzer,
            fields,
            np.asarray(owner, dtype=np.int64),
            token_sets,
            strong_sets,
            idf,
        )

    def __len__(self) -> int:
        return len(self._documents)

    def terms(self, question: str) -> tuple[frozenset[str], ...]:
        """What the search makes of a question: per content word the index tokens that match
        it (stem, article `§13b`, synonym concept `≈n`) and its compound parts (for tests and
        for explaining a result)."""
        return tuple(word.full | word.parts for word in self._analyzer.question_words(question))

    def _weight(self, word: _Word) -> float:
        # A word counts for what it means: the commonest of its forms (a rare spelling or
        # abbreviation of a common concept is not more telling than the concept).
        known = [self._idf[token] for token in word.full if token in self._idf]
        weight = min(known) if known else self._unknown_idf * UNKNOWN_WEIGHT
        small = word.generic or word.surface in COMMON
        return weight * (GENERIC_WEIGHT if small else 1.0)

    def _coverage(self, words: Sequence[_Word], number: int) -> tuple[float, float, bool]:
        """IDF-weighted share of the question's words this document contains (a word found
        only in the body text counts less); how specific the matched words are together (below
        1 when they are too common to tell entries apart: "rapportage" alone); and whether it
        contains a word that is not generic."""
        tokens = self._token_sets[number]
        strong = self._strong_sets[number]
        total = matched = 0.0
        meaningful = False
        for word in words:
            weight = self._weight(word)
            total += weight
            if word.full & strong:
                matched += weight
                meaningful = meaningful or not word.generic
            elif word.full & tokens:
                matched += weight * BODY_CREDIT
                meaningful = meaningful or not word.generic
            elif word.parts and word.parts & tokens:
                # A compound of the question matched in parts: both parts say more than the
                # head alone ("gemeentehuis" is not about a "huisverbod").
                found = word.parts & tokens
                if found == word.parts:
                    matched += weight * PART_CREDIT
                    meaningful = meaningful or not word.generic
                else:
                    matched += weight * PART_CREDIT * 0.4 * len(found) / len(word.parts)
        if not total:
            return 0.0, 0.0, meaningful
        information = min(1.0, matched / (INFORMATION_SHARE * self._unknown_idf))
        return matched / total, information, meaningful

    def search(self, question: str, k: int = 3) -> SearchResult:
        k = max(1, k)
        words = self._analyzer.question_words(question)
        weights: dict[str, float] = {}
        for word in words:
            factor = GENERIC_WEIGHT if word.generic else 1.0
            own: dict[str, float] = {}
            for token in sorted(word.full):
                if token.startswith(CONCEPT_PREFIX):
                    own[token] = CONCEPT_WEIGHT
                elif token in word.expansion:
                    own[token] = 1.0 / len(word.expansion)
                else:
                    own[token] = 1.0
            for token in sorted(word.parts):
                own[token] = PART_WEIGHT
            # Every word of the question gets the same say: one with many forms (an
            # abbreviation, its expansion and its synonym concept) must not outweigh the rest.
            scale = factor * min(1.0, WORD_BUDGET / sum(own.values()))
            for token, weight in own.items():
                weights[token] = max(weights.get(token, 0.0), weight * scale)
        size = len(self._documents)
        if not weights or not size:
            return SearchResult(question, False, (), ())
        scores = np.zeros(size, dtype=np.float32)
        for name in ("name", "questions", "body"):
            scores += FIELD_WEIGHTS[name] * _field_scores(self._fields[name], weights, size)
        if len(self._question_owner):
            per_question = _field_scores(
                self._fields["best_question"], weights, len(self._question_owner)
            )
            best = np.zeros(size, dtype=np.float32)
            np.maximum.at(best, self._question_owner, per_question)
            scores += FIELD_WEIGHTS["best_question"] * best
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return SearchResult(question, False, (), ())
        # Stable order: score descending, then document id (documents are sorted by id).
        wanted = max(k, MAX_ALTERNATIVES + 1)
        pool = max(wanted, CANDIDATE_POOL)
        if len(candidates) > pool:
            candidates = candidates[np.argpartition(-scores[candidates], pool)[:pool]]
        best_score = float(scores[candidates].max())
        covered = {int(n): self._coverage(words, int(n)) for n in candidates}
        ranking = {n: float(scores[n]) / best_score for n in covered}
        # Equal scores (common for short questions): the entry covering more of the question
        # first, then the id, so the order never depends on chance.
        order = sorted(ranking, key=lambda n: (-round(ranking[n], 6), -covered[n][0], n))[:wanted]
        top_score = ranking[order[0]]
        runner_up = ranking[order[1]] if len(order) > 1 else 0.0
        margin = (top_score - runner_up) / top_score
        confidences: list[float] = []
        plausible: set[int] = set()
        for rank, number in enumerate(order):
            coverage, information, meaningful = covered[number]
            relative = ranking[number] / top_score
            # Worth offering as "Bedoelde je …": about (most of) the question, even if the words
            # are too common for a confident answer ("RIEC" alone: which of its two entries?).
            if meaningful and coverage * relative * MARGIN_FLOOR >= ALTERNATIVE_MIN:
                plausible.add(number)
            if rank == 0:
                clear = min(1.0, margin / MARGIN_FULL)
                confidence = coverage * (MARGIN_FLOOR + (1 - MARGIN_FLOOR) * clear)
            else:
                confidence = coverage * relative * MARGIN_FLOOR
            confidence *= information
            if not meaningful:
                confidence = min(confidence, ALTERNATIVE_MIN)
            if confidences:
                confidence = min(confidence, confidences[-1])
            confidences.append(round(min(1.0, max(0.0, confidence)), 4))
        hits = tuple(
            Hit(
                id=self._documents[number].id,
                title=self._documents[number].title,
                legal_basis=self._documents[number].legal_basis,
                score=confidence,
            )
            for number, confidence in zip(order, confidences, strict=True)
        )
        confident = hits[0].score >= CONFIDENT
        if confident:
            alternatives = tuple(
                hit
                for number, hit in zip(order[1:], hits[1:], strict=True)
                if ranking[number] >= CLOSE_RATIO * top_score and number in plausible
            )[:MAX_ALTERNATIVES]
        else:
            alternatives = tuple(
                hit for number, hit in zip(order, hits, strict=True) if number in plausible
            )[:MAX_ALTERNATIVES]
        return SearchResult(question, confident, hits[:k], alternatives)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return " ".join(_text(v) for v in value.values())
    if isinstance(value, Iterable):
        return " ".join(_text(v) for v in value)
    return ""


def documents_from(entries: Iterable[Mapping[str, Any]]) -> list[Document]:
    """Searchable documents from stored entry data (bevoegdheden and process entries)."""
    documents: list[Document] = []
    for data in entries:
        kind = data.get("kind")
        if kind == "bevoegdheid":
            body_fields: tuple[str, ...] = (
                "competent_body",
                "applies_when",
                "steps",
                "pitfalls",
            )
        elif kind == "proces":
            body_fields = ("competent_body", "answer", "steps", "needed_information")
        else:
            continue
        documents.append(
            Document(
                id=str(data["id"]),
                kind=str(kind),
                title=str(data.get("title", "")),
                legal_basis=str(data.get("legal_basis", "")),
                questions=tuple(str(q) for q in data.get("questions", ())),
                synonyms=tuple(str(s) for s in data.get("synonyms", ())),
                body=" . ".join(_text(data.get(name, "")) for name in body_fields),
            )
        )
    return documents


def vocabulary_from(entries: Iterable[Mapping[str, Any]]) -> Vocabulary:
    """Synonyms and abbreviations from entries of kind "synoniemen" (all tables merged)."""
    groups: list[tuple[str, ...]] = []
    abbreviations: dict[str, str] = {}
    for data in entries:
        if data.get("kind") != "synoniemen":
            continue
        groups += [tuple(str(term) for term in group) for group in data.get("groups", ())]
        abbreviations.update({str(k): str(v) for k, v in data.get("abbreviations", {}).items()})
    return Vocabulary(groups=tuple(groups), abbreviations=abbreviations)


@dataclass(frozen=True)
class Miss:
    question: str
    expected: tuple[str, ...]
    got: str | None
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    """How well the index answers a labelled question set (see tests/data/ask_dev.yaml)."""

    questions: int
    hit_at_1: float  # share whose best hit is an expected entry
    hit_at_3: float
    mrr: float  # mean reciprocal rank of the first expected entry within the top 10
    confident_correct: float  # share answered confidently and correctly
    confident_wrong: int  # answered confidently with a wrong entry
    out_of_scope: int
    out_of_scope_confident: float  # share of out-of-scope questions answered confidently
    by_style: Mapping[str, float]  # hit@1 per question style
    misses: tuple[Miss, ...]  # questions whose best hit was wrong, or not confident
    # The best hit's confidence per question (in order), for choosing the threshold.
    in_scope_confidences: tuple[tuple[float, bool], ...]  # (confidence, best hit correct)
    out_of_scope_confidences: tuple[float, ...]


def evaluate(
    index: KnowledgeIndex,
    questions: Sequence[Mapping[str, Any]],
    out_of_scope: Sequence[Mapping[str, Any]] = (),
) -> Evaluation:
    """hit@1, hit@3, MRR and the out-of-scope confident share; `expected` is an entry id or a
    list of ids that are all right."""
    hit1 = hit3 = 0
    reciprocal = 0.0
    confident_correct = confident_wrong = 0
    styles: dict[str, list[bool]] = {}
    misses: list[Miss] = []
    in_scope: list[tuple[float, bool]] = []
    for item in questions:
        expected_value = item["expected"]
        expected = (
            (str(expected_value),)
            if isinstance(expected_value, str)
            else tuple(str(v) for v in expected_value)
        )
        result = index.search(str(item["q"]), k=10)
        ids = [hit.id for hit in result.hits]
        rank = next((n for n, hit_id in enumerate(ids, 1) if hit_id in expected), None)
        correct = rank == 1
        hit1 += correct
        hit3 += rank is not None and rank <= 3
        reciprocal += 1 / rank if rank else 0.0
        confident_correct += correct and result.confident
        confident_wrong += (not correct) and result.confident
        styles.setdefault(str(item.get("style", "")), []).append(correct)
        confidence = result.hits[0].score if result.hits else 0.0
        in_scope.append((confidence, correct))
        if not (correct and result.confident):
            misses.append(Miss(str(item["q"]), expected, ids[0] if ids else None, confidence))
    outside: list[float] = []
    outside_confident = 0
    for item in out_of_scope:
        result = index.search(str(item["q"]))
        outside.append(result.hits[0].score if result.hits else 0.0)
        outside_confident += result.confident
    total = max(1, len(questions))
    return Evaluation(
        questions=len(questions),
        hit_at_1=hit1 / total,
        hit_at_3=hit3 / total,
        mrr=reciprocal / total,
        confident_correct=confident_correct / total,
        confident_wrong=confident_wrong,
        out_of_scope=len(out_of_scope),
        out_of_scope_confident=outside_confident / max(1, len(out_of_scope)),
        by_style={style: sum(v) / len(v) for style, v in sorted(styles.items())},
        misses=tuple(misses),
        in_scope_confidences=tuple(in_scope),
        out_of_scope_confidences=tuple(outside),
    )
