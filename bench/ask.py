"""Latency of a knowledge question over a synthetic store of 5,000 entries.

The entries are generated from the real content's vocabulary with a fixed seed, so every run
searches the same store: the real entries plus synthetic ones whose titles, synonyms, legal
bases, example questions and bodies are drawn from the words of the real knowledge (realistic
term frequencies, realistic field lengths). The questions are dev-set-like: the dev set's own
questions when present, plus example questions of random entries with words dropped, reordered
or mistyped.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bot.content import load_directory
from bot.knowledge import Document, KnowledgeIndex, documents_from, vocabulary_from

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = 5000
QUERIES = 400
WARM_UP = 50
TARGET_P95_MS = 20.0
SEED = 20261123
LAWS = ("Gemeentewet", "Opiumwet", "Wpg", "Wjsg", "Awb", "Wet Bibob", "APV", "Alcoholwet")


def _words(documents: list[Document]) -> list[str]:
    """Every word of the real content, with repeats (so frequent words stay frequent)."""
    words: list[str] = []
    for document in documents:
        for text in (document.title, document.body, *document.questions, *document.synonyms):
            words += [w.strip(".,;:()?!\"'") for w in text.split()]
    return [w for w in words if w]


def synthetic_documents(real: list[Document], count: int, seed: int = SEED) -> list[Document]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    words = _words(real)
    long_words = sorted({w for w in words if len(w) >= 7})

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))

    documents = list(real)
    for number in range(count - len(real)):
        article = f"art. {rng.randint(1, 400)}{rng.choice(['', '', 'a', 'b', 'c'])}"
        documents.append(
            Document(
                id=f"synthetisch_{number:05d}",
                kind=rng.choice(("bevoegdheid", "proces")),
                title=sentence(4, 10).capitalize(),
                legal_basis=f"{article} {rng.choice(LAWS)}",
                questions=tuple(sentence(6, 14) + "?" for _ in range(rng.randint(2, 5))),
                synonyms=tuple(rng.choice(long_words) for _ in range(rng.randint(2, 7))),
                body=" ".join(sentence(8, 20) + "." for _ in range(rng.randint(5, 15))),
            )
        )
    return documents


def _mistype(word: str, rng: random.Random) -> str:
    if len(word) < 6:
        return word
    position = rng.randrange(1, len(word) - 1)
    return word[:position] + word[position + 1] + word[position] + word[position + 2 :]


def questions(documents: list[Document], count: int, seed: int = SEED) -> list[str]:
    rng = random.Random(seed + 1)  # noqa: S311 - reproducible test data
    result: list[str] = []
    dev = ROOT / "tests" / "data" / "ask_dev.yaml"
    if dev.exists():
        data = yaml.safe_load(dev.read_text(encoding="utf-8")) or {}
        result += [str(item["q"]) for item in data.get("questions", [])]
        result += [str(item["q"]) for item in data.get("out_of_scope", [])]
    with_questions = [d for d in documents if d.questions]
    while len(result) < count:
        words = rng.choice(rng.choice(with_questions).questions).rstrip("?").split()
        if len(words) > 4 and rng.random() < 0.5:
            del words[rng.randrange(len(words))]
        if rng.random() < 0.3:
            rng.shuffle(words)
        if rng.random() < 0.3:
            index = rng.randrange(len(words))
            words[index] = _mistype(words[index], rng)
        result.append(" ".join(words) + "?")
    return result[:count]


def run() -> dict[str, Any]:
    entries = [entry.data for entry in load_directory(ROOT / "knowledge")]
    documents = synthetic_documents(documents_from(entries), ENTRIES)
    started = time.perf_counter()
    index = KnowledgeIndex.build(documents, vocabulary_from(entries))
    build_ms = (time.perf_counter() - started) * 1000
    # Warm up on questions that are not measured (caches, allocator), then time the rest.
    generated = questions(documents, QUERIES + WARM_UP)
    asked, warm_up = generated[:QUERIES], generated[QUERIES:]
    for question in warm_up:
        index.search(question)
    timings: list[float] = []
    for question in asked:
        started = time.perf_counter()
        index.search(question)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    p95 = round(cuts[94], 3)
    return {
        "entries": len(index),
        "queries": len(timings),
        "build_ms": round(build_ms, 1),
        "p50_ms": round(cuts[49], 3),
        "p95_ms": p95,
        "p99_ms": round(cuts[98], 3),
        "target_p95_ms": TARGET_P95_MS,
        "met": p95 <= TARGET_P95_MS,
    }
