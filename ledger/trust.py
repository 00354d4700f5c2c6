"""Who may append what: the checks the sequencer makes inside its lock, and what
actor, key-grant and key-revocation entries do to the trust tables.

Each check reads the log as the batch has left it so far (``Batch``: its connection,
its caches of keys and roles, the entries it has placed), so a submission is judged
against every entry before it, including those earlier in the same batch.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import func, insert, select

from core.corrections import check_correction, check_correction_time
from core.errors import (
    Conflict,
    Forbidden,
    InvalidKey,
    InvalidRecord,
    KeyRevoked,
    NotFound,
    UnknownKey,
)
from core.keys import can_sign, check_signing_key
from core.roles import article, check_role_may_submit
from ledger.entry import decode_entry, record_bytes
from ledger.schema import ActorRow, EntryRow, KeyRow
from ledger.storage import SigningKey, entry_facts, entry_leaf_and_data

if TYPE_CHECKING:
    from ledger.sequencer import Batch, Submission

_INSERT_ACTOR = insert(ActorRow.__table__)
_INSERT_KEY = insert(KeyRow.__table__)
_KEYS = KeyRow.__table__
_ENTRIES = EntryRow.__table__


def authorise(b: Batch, sub: Submission, genesis: bool, followed: bool = False) -> str:
    """The actor behind ``sub`` if its key is valid now and its role may do this.

    A claim's decision is only ever the ledger's own entry right after the claim
    (``followed``): the policy plugin decides it, nobody submits one.
    """
    record = sub.record
    if record.kind == "claim_decision" and not followed:
        raise Forbidden(
            "a claim decision is appended by the ledger right after the claim it decides; "
            "submit the return_request or warranty_claim instead"
        )
    if genesis:
        # The first two entries of a log grant the operator its own key.
        if record.kind == "actor":
            return record.actor_id
        if record.kind == "key_grant" and record.key_id == sub.keyid:
            return record.actor_id
        raise Forbidden("a new log starts with the operator's actor and key grant")
    key = b.key(sub.keyid)
    if key is None:
        raise UnknownKey(
            f"key {sub.keyid} is not granted to any actor of this ledger; "
            "ask the operator to add it with `vinledger actors add`"
        )
    if key.revoked_idx is not None:
        raise KeyRevoked(
            f"key {sub.keyid} was revoked at log index {key.revoked_idx}; "
            "sign with a key that is still valid"
        )
    if not can_sign(key.public_key):
        # Granted before the ledger refused such keys: whoever holds none of its
        # private key can still make signatures under it, so nothing new is taken.
        raise Forbidden(
            f"key {sub.keyid} is a point of small order (or outside the Ed25519 group): "
            "signatures under it can be made without its private key, so the ledger "
            "logs nothing new signed with it. The operator revokes it "
            "(`vinledger keys revoke`) and grants the partner a key made by "
            "`vinledger keygen`"
        )
    check_role_may_submit(key.role, record.kind)
    if record.kind == "sale" and record.dealer != key.actor_id and key.role != "operator":
        raise Forbidden(
            f"a dealer records only its own sales: this sale names dealer "
            f"{record.dealer!r} but is signed by {key.actor_id!r}"
        )
    if record.kind == "correction":
        _check_correction(b, record, key)
    elif record.kind == "dispute":
        _check_dispute(b, record)
    elif record.kind == "complaint":
        _check_complaint(b, record)
    elif record.kind == "insurance_claim":
        _check_claim_ref(b, record.vin, record.claim_ref, key.actor_id)
    return key.actor_id


def _target(b: Batch, index: int, field: str) -> tuple[str | None, str, str]:
    """(VIN, signer, kind) of the entry at ``index``, placed before or in this batch."""
    if index >= b.start:  # placed in this batch: entry_rows runs from b.start
        if index - b.start >= len(b.entry_rows):
            raise NotFound(f"entry {index} is not in the log", field=field)
        pending = b.entry_rows[index - b.start]
        return pending["vin"], pending["actor_id"], pending["kind"]
    facts = entry_facts(b.c, index)
    if facts is None:
        raise NotFound(f"entry {index} is not in the log", field=field)
    return facts


def _same_vehicle(record, index: int, vin: str | None, kind: str, field: str) -> None:
    """A correction or dispute names an earlier entry about its own vehicle."""
    if vin is None:
        raise InvalidRecord(
            f"entry {index} is a {kind} entry, about no vehicle; a {record.kind} names "
            f"an entry of {record.vin}'s history",
            field=field,
        )
    if vin != record.vin:
        raise InvalidRecord(
            f"entry {index} is about VIN {vin}, not {record.vin}; a {record.kind} must "
            "name the VIN of the entry it is about",
            field="$.vin",
        )


def _check_correction(b: Batch, record, key: SigningKey) -> None:
    vin, author, kind = _target(b, record.corrects, "$.corrects")
    _same_vehicle(record, record.corrects, vin, kind, "$.corrects")
    if key.actor_id != author and key.role != "operator":
        raise Forbidden(
            f"entry {record.corrects} was signed by {author!r}; only its signer "
            "or the operator may correct it",
            field="$.corrects",
        )
    corrected = _record_json(b, record.corrects)
    earlier = [(i, _record_of(data)) for i, data in _vin_entries(b, vin, "correction")]
    earlier = [(i, fix) for i, fix in earlier if fix.get("corrects") == record.corrects]
    # Checked against the record in force, as the view shows it: two corrections each
    # valid against the record as signed may together break a rule across fields (a
    # registration's first_registered after its occurred_at), and the view would refuse
    # the second, leaving an entry logged that the buyer's page cannot apply.
    in_force, applied = _in_force(corrected, earlier)
    try:
        check_correction(record.fields, in_force)
    except InvalidRecord as err:
        if not applied or not _fits(record.fields, corrected):
            raise  # its own fault, whatever came before: say only that
        which = ", ".join(f"entry {i}" for i in applied)
        raise InvalidRecord(
            f"{err} (entry {record.corrects} as its earlier corrections, {which}, "
            "leave it: give the fields that go together in one correction)",
            field=err.field,
        ) from err
    check_correction_time(record.occurred_at, record.fields, corrected, earlier)
    if kind == "dispute" and "occurred_at" in record.fields:
        # When a sale was recorded again is judged by its dispute's date
        # (core.sale_standing); a later date would make claims and commissions read the
        # same log two ways. A dispute dated wrongly is resolved and filed again.
        raise InvalidRecord(
            f"entry {record.corrects} is a dispute: its date says which later sale replaces "
            "the disputed one, so it is not corrected; resolve the dispute and file it "
            "again with the right date",
            field="$.fields.occurred_at",
        )
    if kind == "insurance_claim" and isinstance(record.fields.get("claim_ref"), str):
        # The reference it is given must not be another of its insurer's claims' on the car.
        _check_claim_ref(b, vin, record.fields["claim_ref"], author, but=record.corrects)


def _fits(fields: dict, record: dict) -> bool:
    """Whether ``fields`` would correct ``record`` as signed (the earlier corrections are
    to blame only for a refusal they cause)."""
    try:
        check_correction(fields, record)
    except InvalidRecord:
        return False
    return True


def _in_force(corrected: dict, earlier: list[tuple[int, dict]]) -> tuple[dict, list[int]]:
    """The record ``corrected`` as its ``earlier`` corrections (in log order) leave it,
    applied as ``core.corrections.apply_corrections`` applies them (one it refuses, from
    an older log, changes nothing), and the indexes of those applied."""
    record, applied = dict(corrected), []
    for index, fix in earlier:
        fields = fix.get("fields")
        if not isinstance(fields, dict):
            continue
        try:
            check_correction(fields, record)
        except InvalidRecord:
            continue
        record.update(fields)
        applied.append(index)
    return record, applied


def _record_json(b: Batch, index: int) -> dict:
    """The record of the entry at ``index`` (placed before or in this batch), as JSON."""
    if index >= b.start:
        return _record_of(b.entry_rows[index - b.start]["data"])
    return _record_of(entry_leaf_and_data(b.c, index)[1])


def _check_claim_ref(
    b: Batch, vin: str, claim_ref: str, actor_id: str, but: int | None = None
) -> None:
    """An insurer logs each of its claims once per vehicle. The same envelope again is
    answered with its entry before this (``Sequencer._place``); a copy re-serialised by
    a client's retry, or edited, would otherwise log the claim twice and show a buyer
    two floods where there was one. A claim's reference is the one it holds now: a
    correction may have changed it (``but``: the claim a correction gives ``claim_ref``,
    not compared with itself)."""
    claims = _vin_entries(b, vin, "insurance_claim", actor_id)
    refs = {index: _record_of(data).get("claim_ref") for index, data in claims if index != but}
    if not refs:
        return
    for _, data in _vin_entries(b, vin, "correction"):  # in log order
        fix = _record_of(data)
        fields = fix.get("fields")
        if fix.get("corrects") in refs and isinstance(fields, dict) and "claim_ref" in fields:
            refs[fix["corrects"]] = fields["claim_ref"]
    for index, ref in refs.items():
        if ref != claim_ref:
            continue
        if but is not None:
            raise Conflict(
                f"entry {index} is already {actor_id}'s claim {claim_ref!r} for {vin}: a "
                "claim's reference names one claim; give entry "
                f"{but} its own reference",
                field="$.fields.claim_ref",
            )
        raise Conflict(
            f"entry {index} already logs your claim {claim_ref!r} for {vin}, from an "
            "envelope that differs from this one (re-serialised or edited). A claim is "
            f"logged once: to change what it says, submit a correction of entry {index}",
            field="$.claim_ref",
        )


def _vin_entries(
    b: Batch, vin: str, kind: str, actor_id: str | None = None
) -> list[tuple[int, bytes]]:
    """(index, data) of ``vin``'s entries of ``kind`` (by ``actor_id``), in log order:
    those stored before the batch, then the batch's own (maybe not yet written)."""
    query = select(_ENTRIES.c.idx, _ENTRIES.c.data).where(
        _ENTRIES.c.vin == vin, _ENTRIES.c.kind == kind, _ENTRIES.c.idx < b.start
    )
    if actor_id is not None:
        query = query.where(_ENTRIES.c.actor_id == actor_id)
    stored = [(i, d) for i, d in b.c.execute(query.order_by(_ENTRIES.c.idx)).all()]
    placed = [
        (row["idx"], row["data"])
        for row in b.entry_rows
        if row["kind"] == kind
        and row["vin"] == vin
        and (actor_id is None or row["actor_id"] == actor_id)
    ]
    return stored + placed


def _record_of(data: bytes) -> dict:
    record = msgspec.json.decode(record_bytes(decode_entry(data)))
    return record if isinstance(record, dict) else {}


def _check_dispute(b: Batch, record) -> None:
    vin, _, kind = _target(b, record.disputes, "$.disputes")
    _same_vehicle(record, record.disputes, vin, kind, "$.disputes")
    if kind == "dispute":  # it would read as settling one, and change nothing
        raise InvalidRecord(
            f"entry {record.disputes} is a dispute: to resolve it, file a dispute of the "
            "entry it disputes with status resolved",
            field="$.disputes",
        )


def _check_complaint(b: Batch, record) -> None:
    if b.role(record.dealer) != "dealer":
        raise NotFound(f"{record.dealer!r} is not a dealer of this ledger", field="$.dealer")
    if record.sale is not None:
        vin, author, kind = _target(b, record.sale, "$.sale")
        if kind != "sale" or author != record.dealer or vin != record.vin:
            raise Forbidden(
                f"entry {record.sale} is not a sale of {record.vin} by {record.dealer!r}",
                field="$.sale",
            )


def _other_operator_keys(b: Batch, key_id: str) -> int:
    """Valid operator keys other than ``key_id``, this batch's grants and revocations
    included (they are in its transaction)."""
    keys, actors = _KEYS, ActorRow.__table__
    return b.c.execute(
        select(func.count())
        .select_from(keys.join(actors, keys.c.actor_id == actors.c.actor_id))
        .where(
            actors.c.role == "operator",
            keys.c.revoked_idx.is_(None),
            keys.c.key_id != key_id,
        )
    ).scalar_one()


def upline_not_a_referrer(upline: str, role: str) -> str:
    """The refusal, in the words ``api.service.Ledger.add_actor`` says it too."""
    return (
        f"upline {upline!r} is {article(role)} {role}, not a referrer: an upline earns the "
        "level-2 commission on its referrers' sales, so only a referrer may be one; give a "
        "referrer's actor id as the upline, or none"
    )


def _check_upline(b: Batch, record) -> None:
    """A referrer's upline is a referrer: a dealer set as one would earn level 2 on
    its competitors' sales."""
    if record.upline is None:
        return
    role = b.role(record.upline)
    if role is None:
        raise NotFound(
            f"upline {record.upline!r} is no actor on this ledger; add it first", field="upline"
        )
    if role != "referrer":
        raise InvalidRecord(upline_not_a_referrer(record.upline, role), field="upline")


def apply_trust_effects(b: Batch, record, index: int) -> None:
    """Actors and keys as the entry leaves them; the batch's caches follow suit."""
    if record.kind == "actor":
        if b.role(record.actor_id) is not None:
            raise Conflict(f"actor {record.actor_id!r} already exists; choose another id")
        _check_upline(b, record)
        b.c.execute(
            _INSERT_ACTOR,
            {
                "actor_id": record.actor_id,
                "name": record.name,
                "role": record.role,
                "upline": record.upline,
                "idx": index,
            },
        )
        b.roles[record.actor_id] = record.role
    elif record.kind == "key_grant":
        role = b.role(record.actor_id)
        if role is None:
            raise NotFound(f"actor {record.actor_id!r} does not exist; add the actor first")
        if (held := b.key(record.key_id)) is not None:
            revoked = "" if held.revoked_idx is None else f" (revoked at entry {held.revoked_idx})"
            raise Conflict(
                f"key {record.key_id} is already granted to {held.actor_id!r}{revoked}; a key "
                "is granted once: make a new one for this actor with `vinledger keygen`"
            )
        public = base64.b64decode(record.public_key)
        try:
            check_signing_key(public)
        except InvalidKey as err:
            raise InvalidRecord(str(err), field="public_key") from None
        b.c.execute(
            _INSERT_KEY,
            {
                "key_id": record.key_id,
                "actor_id": record.actor_id,
                "public_key": public,
                "granted_idx": index,
                "revoked_idx": None,
            },
        )
        b.keys[record.key_id] = SigningKey(record.key_id, record.actor_id, public, None, role)
    elif record.kind == "key_revoke":
        key = b.key(record.key_id)
        if key is None:
            raise NotFound(f"key {record.key_id} is not granted on this ledger")
        if key.revoked_idx is not None:
            raise Conflict(f"key {record.key_id} was already revoked at index {key.revoked_idx}")
        if key.role == "operator" and not _other_operator_keys(b, record.key_id):
            # Grants and revocations need an operator key: none left, and no partner
            # could ever be onboarded, and no stolen key revoked, again.
            raise Conflict(
                f"key {record.key_id} is the ledger's last valid operator key: revoked, no "
                "one could onboard a partner or revoke a key again. Grant another operator "
                "key first (`vinledger actors add NAME --id operator --role operator "
                "--public-key NEW.pub`), sign with it, then revoke this one"
            )
        b.c.execute(_KEYS.update().where(_KEYS.c.key_id == record.key_id).values(revoked_idx=index))
        b.keys[record.key_id] = dataclasses.replace(key, revoked_idx=index)
