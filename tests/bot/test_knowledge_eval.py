"""The knowledge search on the shipped content meets its targets on the dev set
(tests/data/ask_dev.yaml): hit@1 >= 0.9 and no out-of-scope question answered confidently.

`make eval` prints the same numbers with the misses (`python -m bench.eval --misses --sweep`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content import load_directory
from bot.knowledge import Evaluation, KnowledgeIndex, documents_from, evaluate, vocabulary_from

ROOT = Path(__file__).resolve().parents[2]
DEV_SET = ROOT / "tests" / "data" / "ask_dev.yaml"
TARGET_HIT_AT_1 = 0.9


@pytest.fixture(scope="module")
def dev_set() -> dict[str, list[dict[str, object]]]:
    assert DEV_SET.is_file(), f"{DEV_SET} is missing: the dev set of the knowledge search"
    data = yaml.safe_load(DEV_SET.read_text(encoding="utf-8")) or {}
    questions = list(data.get("questions") or [])
    out_of_scope = list(data.get("out_of_scope") or [])
    assert questions, f"{DEV_SET}: no questions"
    assert out_of_scope, f"{DEV_SET}: no out_of_scope questions"
    return {"questions": questions, "out_of_scope": out_of_scope}


@pytest.fixture(scope="module")
def evaluation(dev_set: dict[str, list[dict[str, object]]]) -> Evaluation:
    entries = [entry.data for entry in load_directory(ROOT / "knowledge")]
    index = KnowledgeIndex.build(documents_from(entries), vocabulary_from(entries))
    known = {document.id for document in documents_from(entries)}
    for item in dev_set["questions"]:
        expected = item["expected"]
        wanted = {expected} if isinstance(expected, str) else set(expected)  # type: ignore[arg-type]
        assert wanted <= known, f"dev set question {item['q']!r} expects unknown {wanted - known}"
    return evaluate(index, dev_set["questions"], dev_set["out_of_scope"])


def _misses(evaluation: Evaluation) -> str:
    return "\n".join(
        f"  {miss.question!r}: expected {'/'.join(miss.expected)}, got {miss.got} "
        f"({miss.confidence:.2f})"
        for miss in evaluation.misses
    )


def test_hit_at_1_meets_the_target(evaluation: Evaluation) -> None:
    assert evaluation.hit_at_1 >= TARGET_HIT_AT_1, (
        f"hit@1 {evaluation.hit_at_1:.3f} < {TARGET_HIT_AT_1}; misses:\n{_misses(evaluation)}"
    )
    assert evaluation.hit_at_3 >= evaluation.hit_at_1
    assert evaluation.mrr >= evaluation.hit_at_1


def test_no_out_of_scope_question_is_answered_confidently(evaluation: Evaluation) -> None:
    assert evaluation.out_of_scope_confident == 0.0, (
        f"{evaluation.out_of_scope_confident:.3f} of the out-of-scope questions answered "
        "confidently"
    )


def test_most_questions_are_answered_confidently_and_rightly(evaluation: Evaluation) -> None:
    # The threshold must not buy safety by refusing to answer: most in-scope questions get an
    # answer (the rest get "Bedoelde je …"), and a confident answer is rarely wrong.
    assert evaluation.confident_correct >= 0.6, _misses(evaluation)
    assert evaluation.confident_wrong <= max(1, evaluation.questions // 20), _misses(evaluation)
