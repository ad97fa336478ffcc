"""SQLAlchemy tables. Every change here gets an Alembic migration in `migrations/versions/`."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names keep migrations reproducible on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JsonDocument,
    }


class BotStateItem(Base):
    """One botbuilder state document (conversation, user or dialog state) under its SDK key."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    document: Mapped[dict[str, Any]]
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class KnowledgeEntry(Base):
    """A curated content entry as imported from `knowledge/` (the YAML files are the source)."""

    __tablename__ = "knowledge_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Gemeente(Base):
    __tablename__ = "gemeenten"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class Basisteam(Base):
    """A police team; district and eenheid decide who checks which report type."""

    __tablename__ = "basisteams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    district: Mapped[str] = mapped_column(Text)
    eenheid: Mapped[str] = mapped_column(Text)


class BasisteamGemeente(Base):
    """Which gemeenten a basisteam serves (a large gemeente can be served by several teams)."""

    __tablename__ = "basisteam_gemeenten"

    basisteam_id: Mapped[str] = mapped_column(
        ForeignKey("basisteams.id", ondelete="CASCADE"), primary_key=True
    )
    gemeente_id: Mapped[str] = mapped_column(
        ForeignKey("gemeenten.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# The tables `services.load_catalogue` reads: what the intake dialog chooses from.
CONTENT_TABLES = ("knowledge_entries", "gemeenten", "basisteams", "basisteam_gemeenten")
CONTENT_VERSION_ID = 1


class ContentVersion(Base):
    """One row (id 1) whose token changes in the same transaction as any change to the content
    tables above, so a process caching the catalogue learns with one primary-key read that it
    is stale. Database triggers (migration 0011_content_version) write it: every writer is
    covered, this process or another (`kb import`, `admin import`, a replica, a hand-made SQL
    fix). A random token rather than a counter, so a recreated or emptied table can never bring
    back a token a process cached earlier."""

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))


class ReferenceCounter(Base):
    """Last issued sequence number per year for `BR-<year>-<seq>` references."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


_NOT_NUDGED = "nudged_at IS NULL AND due_at IS NOT NULL"
_NOT_ESCALATED = "escalated_at IS NULL AND due_at IS NOT NULL"


class Request(Base):
    """A request for a bestuurlijke rapportage: workflow metadata, never report content."""

    __tablename__ = "requests"
    __table_args__ = (
        # The reminder scan (`bot.reminders.due_nudges`, `due_escalations`): only the rows still
        # waiting for their nudge or escalation, so a tick reads what is due and nothing else
        # (migration 0010). The scan's WHERE must keep implying these conditions.
        Index(
            "ix_requests_status_due_at_not_nudged",
            "status",
            "due_at",
            sqlite_where=text(_NOT_NUDGED),
            postgresql_where=text(_NOT_NUDGED),
        ),
        Index(
            "ix_requests_status_due_at_not_escalated",
            "status",
            "due_at",
            sqlite_where=text(_NOT_ESCALATED),
            postgresql_where=text(_NOT_ESCALATED),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    bevoegdheid_id: Mapped[str] = mapped_column(String(64))
    gemeente_id: Mapped[str] = mapped_column(ForeignKey("gemeenten.id"), index=True)
    basisteam_id: Mapped[str] = mapped_column(ForeignKey("basisteams.id"), index=True)
    subject: Mapped[str] = mapped_column(Text)
    criminal_investigation: Mapped[str] = mapped_column(String(16))
    boa_route_possible: Mapped[bool] = mapped_column(Boolean)
    boa_route_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    report_type: Mapped[str] = mapped_column(String(32))
    desired_date: Mapped[dt.date] = mapped_column(Date)
    answers: Mapped[dict[str, Any]]
    requester_aad_id: Mapped[str] = mapped_column(String(64), index=True)
    requester_name: Mapped[str] = mapped_column(Text)
    requester_conversation: Mapped[dict[str, Any]]
    # Set once a coördinator consulted the zaakofficier: the report then uses investigation data.
    zaakofficier_consulted: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the current status was entered, and whether its reminder went out (aanvulling).
    status_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    nudged_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # When the current status is due (end of the local due day, UTC; bot/due_dates.py), or None
    # when the status has no deadline. Indexed with status for the reminder scan (above).
    due_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # When the passing of `due_at` was escalated in the sturingsoverleg (once per state entry:
    # cleared with `nudged_at` on every transition).
    escalated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # Set by the sturingsoverleg (hoog / normaal / laag); None until it has been discussed.
    priority: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Recorded by the gemeente on afronden: was the measure taken, and optional feedback.
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    quality_feedback: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RequestEvent(Base):
    """Append-only audit trail: who changed what, when, from which state to which."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_aad_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The Teams activity that caused the change: unique, so a replayed or re-sent card action
    # adds no second event (and, being in the same transaction, no second state change).
    activity_id: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)


class Person(Base):
    """Someone with a role in the process, by Entra (AAD) object id; name and e-mail for display."""

    __tablename__ = "people"

    aad_object_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text, default="")


class PersonRole(Base):
    """A role and where it applies: coordinator of a basisteam, aanspreekpunt of a gemeente, or
    a role without a scope (expert, beheerder: scope '')."""

    __tablename__ = "person_roles"
    __table_args__ = (Index("ix_person_roles_role_scope", "role", "scope"),)

    aad_object_id: Mapped[str] = mapped_column(
        ForeignKey("people.aad_object_id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True, default="")


class Contact(Base):
    """How to reach a person in Teams, learnt from their own activities in a personal chat.

    A coördinator who never wrote to the bot has no row; the dispatcher then opens the personal
    chat by Entra object id, which Teams accepts once the app is installed for that person."""

    __tablename__ = "contacts"

    aad_object_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    service_url: Mapped[str] = mapped_column(Text)
    conversation_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    """The outbox: one message or card to deliver, written in the transaction of the change that
    caused it and sent after commit by `bot.notifier`.

    `key` is the idempotency key: writing the same notification twice is refused by the unique
    constraint, and delivery bookkeeping (attempts, last status, sent time) lives on the row.
    Rows for one recipient are delivered in id order, so a card update never overtakes the card.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    # "notice" posts a new message; "card" puts the request card in the recipient's chat:
    # an in-place update of their copy when there is one, otherwise a new message; "update"
    # replaces the message of the row named by `replaces_key` (a channel card).
    kind: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("requests.id"), nullable=True, index=True
    )
    # Who it is for: "person:<aad object id>" (personal chat) or "conversation:<id>" (a channel).
    recipient: Mapped[str] = mapped_column(String(200), index=True)
    recipient_aad_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A stored conversation reference (service URL, conversation, tenant) when the recipient is
    # reached through a known conversation instead of a contact.
    conversation: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    activity: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    sent_activity_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_conversation_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    # kind "update": the key of the earlier row whose sent message this row replaces in place
    # (a channel card such as the digest, which has no card copy of a request).
    replaces_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CardCopy(Base):
    """Where a request's card sits in someone's chat, so every change updates it in place."""

    __tablename__ = "card_copies"

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), primary_key=True)
    service_url: Mapped[str] = mapped_column(Text)
    conversation_id: Mapped[str] = mapped_column(Text)
    activity_id: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelLink(Base):
    """A Teams channel (or group chat) the bot posts to for one purpose: "experts" (where expert
    questions go), later "sturingsoverleg" per basisteam. Linked by a beheerder typing a command
    in that channel, because only then does the bot learn the channel's conversation reference."""

    __tablename__ = "channel_links"
    __table_args__ = (Index("ix_channel_links_purpose_basisteam_id", "purpose", "basisteam_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    basisteam_id: Mapped[str | None] = mapped_column(
        ForeignKey("basisteams.id", ondelete="CASCADE"), nullable=True
    )
    # The channel's conversation reference (without the thread's message id), as the outbox
    # stores it on a "conversation:<id>" notification.
    conversation: Mapped[dict[str, Any]]
    service_url: Mapped[str] = mapped_column(Text)
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Sturingsoverleg links: the weekly meeting as `MeetingRhythm.to_text()` ("1 10:00"), or
    # None when the team has not said when it meets (then no digest, still escalations).
    meeting_rhythm: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Digest(Base):
    """The agenda posted before one sturingsoverleg of one basisteam.

    The unique (basisteam, meeting) pair is the claim: of several replicas sweeping at once only
    one inserts the row, and it writes the outbox row in the same transaction. The outbox key
    lets later changes (a priority set from the card) replace the posted card in place."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("basisteam_id", "meeting_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    basisteam_id: Mapped[str] = mapped_column(ForeignKey("basisteams.id", ondelete="CASCADE"))
    meeting_at: Mapped[dt.datetime]
    conversation: Mapped[dict[str, Any]]
    notification_key: Mapped[str] = mapped_column(String(200))
    # Sent after its planned time because the bot was not running then.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnowledgeFeedback(Base):
    """A 👍 or 👎 on a knowledge answer, to find entries that need the jurists' attention. Not
    a foreign key to the entry: a reimport may remove an entry, its feedback stays telling."""

    __tablename__ = "knowledge_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    aad_object_id: Mapped[str] = mapped_column(String(64))
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A replayed or re-sent click adds no second row.
    activity_id: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)


class ExpertQuestion(Base):
    """A question the knowledge store could not answer, put to the experts."""

    __tablename__ = "expert_questions"
    __table_args__ = (Index("ix_expert_questions_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    asker_aad_id: Mapped[str] = mapped_column(String(64), index=True)
    asker_name: Mapped[str] = mapped_column(Text)
    asker_conversation: Mapped[dict[str, Any]]
    # "open" until the first expert answers ("beantwoord"); `version` guards that update.
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime]
    nudged_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_by_aad_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_by_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    answer_activity_id: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)


class KnowledgeDraft(Base):
    """An expert's answer proposed as a knowledge entry; a beheerder approves or rejects it."""

    __tablename__ = "knowledge_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One draft per expert question: a second click finds the first.
    expert_question_id: Mapped[int] = mapped_column(ForeignKey("expert_questions.id"), unique=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    expert_aad_id: Mapped[str] = mapped_column(String(64))
    expert_name: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # "concept" until a beheerder decides: "goedgekeurd" or "afgewezen".
    status: Mapped[str] = mapped_column(String(16), index=True)
    decided_by_aad_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_by_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The knowledge entry an approval wrote.
    entry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class UnreachableRecipient(Base):
    """A person or channel Teams refused to deliver to (403: bot removed or blocked, 404:
    conversation gone). Their outbox rows stay pending but are not claimed (no retry storm, no
    loss) until an `installationUpdate` or a new contact shows the bot is back."""

    __tablename__ = "unreachable_recipients"

    recipient: Mapped[str] = mapped_column(String(200), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Teams' error code (e.g. BotNotInConversationRoster) or the HTTP status.
    reason: Mapped[str] = mapped_column(String(100))


class Deletion(Base):
    """The record that a closed request lost its free text and personal data after the retention
    period (`bot.retention`): which request row (anonymous from then on), when it closed, under
    which period, and how many values of which columns went.

    Never the values themselves, nor their length or a hash: a hash of a short subject can be
    matched against a guess. One record per request: the unique request id is also the claim
    that keeps two replicas from purging the same request twice. Like the audit trail it is
    append-only for the application's role (`storage.grants`)."""

    __tablename__ = "deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    # When the request entered its closed status (`requests.status_since` at the purge).
    closed_at: Mapped[dt.datetime]
    retention_days: Mapped[int] = mapped_column(Integer)
    # "table.column" -> how many values were removed, e.g. {"requests.subject": 1}.
    removed: Mapped[dict[str, Any]]
    purged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
