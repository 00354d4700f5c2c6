"""The tables of the log and beside it, as SQLAlchemy models (SQLite and PostgreSQL).

What is stored:

- ``entries``: the entry bytes exactly as hashed, with columns the server looks them
  up by (VIN and chain position, envelope digest for idempotency);
- ``nodes``: the hash of every perfect, aligned subtree (``ledger.merkle``'s
  ``(level, n)`` coordinates), so any proof or tile costs O(log n) point reads;
- ``checkpoints``: every signed checkpoint, one per sequenced batch;
- ``log_state``: one row, locked by the sequencer, holding the current size;
- ``actors`` and ``keys``: the trust roots as the log's actor, key-grant and
  key-revocation entries left them. They are derived from entries (``audit``
  recomputes and compares them) and exist so that checking a submission is one read;
- private tables (referrals, commissions, API tokens), never in the log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LogState(Base):
    __tablename__ = "log_state"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


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
