"""Presenting intake questions and answers: question cards, summary rows, rejection texts."""

from __future__ import annotations

from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity

from bot.intake import Key, Option, Question, Rejected, display
from cards.render import render, text


def question_text(question: Question, **context: Any) -> str:
    if question.text is not None:
        return question.text
    assert question.text_key is not None
    return text(question.text_key, **context)


def question_help(question: Question) -> str:
    if question.key == Key.REPORT_TYPE:
        return text("report_type_help")
    return question.help


def question_card(
    question: Question,
    *,
    number: int,
    total: int,
    options: tuple[Option, ...] | None = None,
    **context: Any,
) -> Activity:
    card = render(
        "question",
        number=number,
        total=total,
        text=question_text(question, **context),
        help=question_help(question),
        options=[{"value": o.value, "label": o.label} for o in (options or question.options)],
        optional=not question.required,
    )
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def rejection_text(rejected: Rejected) -> str:
    return text(f"invalid_{rejected.code}", **rejected.params)


def summary_rows(questions: list[Question], answers: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for question in questions:
        if question.key not in answers:
            continue
        label = question.text if question.text is not None else text(f"label_{question.key}")
        rows.append(
            {
                "key": question.key,
                "question": label,
                "answer": display(question, answers[question.key]),
            }
        )
    return rows


def summary_card(rows: list[dict[str, str]]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(render("summary", rows=rows)))
