"""The tables of the log and beside it, as SQLAlchemy models (SQLite and PostgreSQL).

What is stored:

- ``entries``: the entry bytes exactly as hashed, with columns the server looks them
  up by (VIN and chain position, envelope digest for idempotency);
- ``nodes``: the hash of every perfect, aligned subtree (``ledger.merkle``'s
  ``(level, n)`` coordinates), so any proof or tile costs O(log n) point reads;
- ``checkpoints``: every signed checkpoint, one per sequenced batch;
- ``log_state``: one row, locked by the sequencer, holding the current size and the
  rules level of the newest release that opened the database (``RULES_LEVEL``);
- ``actors`` and ``keys``: the trust roots as the log's actor, key-grant and
  key-revocation entries left them. They are derived from entries (``audit``
  recomputes and compares them) and exist so that checking a submission is one read;
- private tables (referrals, commissions and how each sale's were settled, API
  tokens), never in the log.

``upgrade_schema`` brings a database made by an earlier release up to these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.errors import NewerRelease


class Base(DeclarativeBase):
    pass


# What this release appends and refuses, as a number: raised by every release that
# changes the sequencer's rules or the entries' format. A database remembers the highest
# level that opened it, and a release below that refuses it (``core.errors.NewerRelease``):
# an older process left running beside a newer one (a rolling upgrade, a rollback) could
# otherwise append an entry the newer checkers refuse, and nothing can take it back.
# Level 1: the rules of 2026-12-01 (claims, disputes, repeated keys, dates, referrals).
# Level 2: 2026-12-02 (a car sold once at a time; no resolution of a dispute whose sale
# was recorded again; referrer uplines; no small-order keys; no recognisable personal
# data in free text; claims judged by the highest reading since the sale; repeated
# warranty claims; commissions in the currency's minor unit).
RULES_LEVEL = 2


class LogState(Base):
    __tablename__ = "log_state"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # The highest RULES_LEVEL that opened the database; NULL: a release before levels.
    rules: Mapped[int | None] = mapped_column(Integer, nullable=True)


def refuse_newer(level: int | None) -> None:
    """``NewerRelease`` if ``level`` (a database's ``log_state.rules``) is a newer
    release's than this one's."""
    if level is not None and level > RULES_LEVEL:
        raise _newer_release(level)


def _newer_release(level: int) -> NewerRelease:
    return NewerRelease(
        f"a newer vinledger release (rules level {level}) has opened this database; this "
        f"process runs an older one (level {RULES_LEVEL}) and must not write to it: an "
        "older release may append what the newer one refuses, and the log cannot take it "
        "back. Upgrade this installation to the release the others run (never run an "
        "older release against this database again)"
    )


# On SQLite, an INTEGER primary key is the table's rowid; a BIGINT one would be a second
# B-tree beside it, written on every append.
RowId = BigInteger().with_variant(Integer, "sqlite")


class EntryRow(Base):
    __tablename__ = "entries"
    idx: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    vin: Mapped[str | None] = mapped_column(String(17))
    vin_seq: Mapped[int | None] = mapped_column(BigInteger)
    keyid: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    sequenced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # One position per VIN chain: two processes can never both extend a chain.
    __table_args__ = (UniqueConstraint("vin", "vin_seq", name="uq_entries_vin_chain"),)


class NodeRow(Base):
    __tablename__ = "nodes"
    # Only the key and a hash: on SQLite the primary key index is the table itself.
    __table_args__ = ({"sqlite_with_rowid": False},)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    size: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ActorRow(Base):
    __tablename__ = "actors"
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    upline: Mapped[str | None] = mapped_column(String(64))
    idx: Mapped[int] = mapped_column(BigInteger)


class KeyRow(Base):
    __tablename__ = "keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.actor_id"))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    granted_idx: Mapped[int] = mapped_column(BigInteger)
    revoked_idx: Mapped[int | None] = mapped_column(BigInteger)


Index("ix_keys_actor", KeyRow.actor_id)


# ---- private: beside the log, never in it ---------------------------------------------
# Referrals, their commissions and the parties' API tokens are private to the dealer,
# the referrer and the operator. Nothing here is hashed into the log or served in a
# public history; a commission cites the public sale entry it was computed from.


class ReferralRow(Base):
    __tablename__ = "referrals"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    referrer: Mapped[str] = mapped_column(ForeignKey("actors.actor_id"))
    upline: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # JSON, as the rule normalised it
    model: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The rule's version when the referral was made; None for referrals made before
    # referrals recorded it. A pending commission waits for this major version.
    rule_version: Mapped[str | None] = mapped_column(String(32))


class CommissionSaleRow(Base):
    """A sale that names a referral code, as the ledger settled it: computed (by
    ``rule_version``; its amounts, possibly none, in ``commissions``) or ``pending``,
    saying why, and waiting for ``rule_version`` (the referral's) to compute it."""

    __tablename__ = "commission_sales"
    sale_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))
    dealer: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str | None] = mapped_column(String(32))
    pending: Mapped[str | None] = mapped_column(Text)  # None once computed


class CommissionBacklogRow(Base):
    """How far the sales logged before commissions were computed at the sale have been
    read: every sale below ``next_idx`` that names a code has its ``commission_sales``
    row. One row."""

    __tablename__ = "commission_backlog"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    next_idx: Mapped[int] = mapped_column(BigInteger)


class CommissionRow(Base):
    __tablename__ = "commissions"
    sale_idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))
    dealer: Mapped[str] = mapped_column(String(64), index=True)
    beneficiary: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[str] = mapped_column(String(32))  # a decimal string, never a float
    currency: Mapped[str] = mapped_column(String(3))
    rule: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))


class TokenRow(Base):
    __tablename__ = "api_tokens"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ForeignKey("actors.actor_id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---- a database made by an earlier release ------------------------------------------------


def upgrade_schema(engine: Engine) -> None:
    """Create the tables a database made by an earlier release lacks, and add the
    columns its tables lack; changes nothing that is already there, so it is safe to
    run at every start.

    First the release: a database a newer release opened is refused before anything
    is changed in it, and an older one is marked as this release's at once (so that
    processes of an older release stop appending before any table changes). Then
    ``create_all`` makes missing tables (it never alters one that exists), and added
    columns are nullable, so the rows already there read as "not recorded then" (a
    referral's ``rule_version``).
    """
    _claim_release(engine)
    Base.metadata.create_all(engine)
    with engine.begin() as c:
        found = inspect(c)
        for table in Base.metadata.sorted_tables:
            have = {column["name"] for column in found.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable:
                    raise RuntimeError(
                        f"{table.name}.{column.name} is missing and cannot be added to rows "
                        "that have no value for it; this release needs a migration for it"
                    )
                kind = column.type.compile(dialect=c.dialect)
                c.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


def _claim_release(engine: Engine) -> None:
    """Refuse a database a newer release opened; mark an older one as this release's."""
    state = LogState.__table__
    with engine.begin() as c:
        found = inspect(c)
        if not found.has_table(state.name):
            return  # an empty database: create_all makes it, create_schema marks it
        if "rules" not in {column["name"] for column in found.get_columns(state.name)}:
            c.execute(text(f"ALTER TABLE {state.name} ADD COLUMN rules INTEGER"))
        level = c.execute(
            select(state.c.rules).where(state.c.id == 1).with_for_update()
        ).scalar_one_or_none()
        refuse_newer(level)
        if level is None or level < RULES_LEVEL:
            c.execute(state.update().where(state.c.id == 1).values(rules=RULES_LEVEL))


def check_release(c) -> None:
    """``NewerRelease`` if a newer release has opened the database since this one did:
    every write of an older process stops there (the sequencer's, and those beside the
    log: referrals, commissions, tokens), as does its readiness."""
    state = LogState.__table__
    refuse_newer(c.execute(select(state.c.rules).where(state.c.id == 1)).scalar_one_or_none())
