"""`make eval`: how well the knowledge search answers the dev set (tests/data/ask_dev.yaml).

Prints hit@1, hit@3, MRR, the share answered confidently and correctly, and the share of
out-of-scope questions answered confidently; `--misses` lists what went wrong and `--sweep`
shows the effect of other confidence thresholds (to choose `bot.knowledge.CONFIDENT`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from bot import knowledge
from bot.content import load_directory
from bot.knowledge import Evaluation, KnowledgeIndex, documents_from, evaluate, vocabulary_from

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT / "tests" / "data" / "ask_dev.yaml"
TARGET_HIT_AT_1 = 0.9
TARGET_OUT_OF_SCOPE_CONFIDENT = 0.0


def load_dev_set(path: Path = DEV_SET) -> dict[str, list[dict[str, Any]]]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: the dev set of the knowledge search is missing")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        "questions": list(data.get("questions") or []),
        "out_of_scope": list(data.get("out_of_scope") or []),
    }


def build_index(root: Path = ROOT / "knowledge") -> KnowledgeIndex:
    entries = [entry.data for entry in load_directory(root)]
    return KnowledgeIndex.build(documents_from(entries), vocabulary_from(entries))


def run(index: KnowledgeIndex | None = None, path: Path = DEV_SET) -> Evaluation:
    dev = load_dev_set(path)
    return evaluate(index or build_index(), dev["questions"], dev["out_of_scope"])


def report(result: Evaluation) -> str:
    lines = [
        f"questions: {result.questions}, out of scope: {result.out_of_scope}, "
        f"threshold: {knowledge.CONFIDENT}",
        f"hit@1: {result.hit_at_1:.3f} (target >= {TARGET_HIT_AT_1})",
        f"hit@3: {result.hit_at_3:.3f}",
        f"MRR: {result.mrr:.3f}",
        f"answered confidently and correctly: {result.confident_correct:.3f}",
        f"answered confidently but wrong: {result.confident_wrong}",
        f"out of scope answered confidently: {result.out_of_scope_confident:.3f} "
        f"(target {TARGET_OUT_OF_SCOPE_CONFIDENT})",
        "hit@1 per style: "
        + ", ".join(f"{style or '-'} {share:.2f}" for style, share in result.by_style.items()),
    ]
    return "\n".join(lines)


def sweep(result: Evaluation) -> str:
    lines = ["threshold  confident&correct  confident&wrong  out-of-scope confident"]
    for step in range(20, 81, 5):
        threshold = step / 100
        right = sum(c >= threshold and ok for c, ok in result.in_scope_confidences)
        wrong = sum(c >= threshold and not ok for c, ok in result.in_scope_confidences)
        outside = sum(c >= threshold for c in result.out_of_scope_confidences)
        lines.append(
            f"{threshold:9.2f}  {right / max(1, result.questions):17.3f}  {wrong:15d}  "
            f"{outside / max(1, result.out_of_scope):22.3f}"
        )
    top_outside = max(result.out_of_scope_confidences, default=0.0)
    lowest_right = sorted(c for c, ok in result.in_scope_confidences if ok)
    lines.append(f"highest out-of-scope confidence: {top_outside:.3f}")
    if lowest_right:
        lines.append(
            f"lowest correct confidences: {', '.join(f'{c:.3f}' for c in lowest_right[:8])}"
        )
    return "\n".join(lines)


def reliability(result: Evaluation) -> str:
    """Is the confidence calibrated? Per confidence band: how often the best hit was right."""
    lines = ["confidence band  questions  right"]
    for low in (0.0, 0.2, 0.4, 0.5, 0.6, 0.8):
        high = {0.0: 0.2, 0.2: 0.4, 0.4: 0.5, 0.5: 0.6, 0.6: 0.8, 0.8: 1.01}[low]
        band = [ok for c, ok in result.in_scope_confidences if low <= c < high]
        outside = sum(low <= c < high for c in result.out_of_scope_confidences)
        share = f"{sum(band) / len(band):.2f}" if band else "-"
        lines.append(
            f"{low:.1f}-{min(high, 1.0):.1f}        {len(band):9d}  {share:>5}"
            f"  (+{outside} out of scope)"
        )
    return "\n".join(lines)


def _best_threshold(
    in_scope: list[tuple[float, bool]], outside: list[float], grid: list[float]
) -> float:
    """The lowest threshold that answers no out-of-scope question and maximises right minus
    twice wrong confident answers."""
    best: tuple[float, float] | None = None
    for threshold in grid:
        if any(c >= threshold for c in outside):
            continue
        right = sum(c >= threshold and ok for c, ok in in_scope)
        wrong = sum(c >= threshold and not ok for c, ok in in_scope)
        value = right - 2 * wrong
        if best is None or value > best[0]:
            best = (value, threshold)
    return best[1] if best else grid[-1]


def cross_validate(result: Evaluation, folds: int = 5) -> str:
    """Choose the threshold on all folds but one and test it on the one left out: if the
    chosen thresholds agree and the held-out results hold, the threshold is not fitted to
    single questions."""
    grid = [step / 100 for step in range(20, 91)]
    in_scope = list(result.in_scope_confidences)
    outside = list(result.out_of_scope_confidences)
    lines = ["fold  threshold  held-out confident&correct  held-out wrong  held-out oos confident"]
    for fold in range(folds):
        train_in = [x for n, x in enumerate(in_scope) if n % folds != fold]
        train_out = [x for n, x in enumerate(outside) if n % folds != fold]
        test_in = [x for n, x in enumerate(in_scope) if n % folds == fold]
        test_out = [x for n, x in enumerate(outside) if n % folds == fold]
        threshold = _best_threshold(train_in, train_out, grid)
        right = sum(c >= threshold and ok for c, ok in test_in)
        wrong = sum(c >= threshold and not ok for c, ok in test_in)
        oos = sum(c >= threshold for c in test_out)
        lines.append(
            f"{fold:4d}  {threshold:9.2f}  {right:>15d}/{len(test_in):<11d}  {wrong:14d}  "
            f"{oos:>13d}/{len(test_out)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.eval", description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list the questions that failed")
    parser.add_argument("--sweep", action="store_true", help="compare confidence thresholds")
    parser.add_argument(
        "--cross-validate", action="store_true", help="choose the threshold leaving folds out"
    )
    parser.add_argument("--dev-set", type=Path, default=DEV_SET)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    try:
        result = run(path=args.dev_set)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    print(report(result))
    if args.sweep:
        print()
        print(sweep(result))
        print()
        print(reliability(result))
    if args.cross_validate:
        print()
        print(cross_validate(result))
    if args.misses:
        print()
        for miss in result.misses:
            print(
                f"- {miss.question!r}: expected {'/'.join(miss.expected)}, got {miss.got} "
                f"({miss.confidence:.2f})"
            )
    met = (
        result.hit_at_1 >= TARGET_HIT_AT_1
        and result.out_of_scope_confident <= TARGET_OUT_OF_SCOPE_CONFIDENT
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
