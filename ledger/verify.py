"""Offline verification of a vehicle bundle against the log's verifier key only.

What is checked, in order, trusting nothing but ``vkey``:

1. the checkpoint is a C2SP signed note by the log key;
2. every entry (vehicle and trust) is included in that checkpoint's tree;
3. the trust entries replay from genesis: entry 0 makes an operator, entry 1 grants
   it the key that signed both and that both name as their signer, and every later
   actor, grant or revocation is signed by an operator key valid at that index; each
   is one the sequencer could have appended (a signed record of the entry's kind, no
   VIN, nothing derived, no key repeated in one object of its payload; no actor twice,
   no grant to an actor not yet made or of a key granted before, no revocation of a
   key not granted or already revoked);
4. every vehicle entry's DSSE signature verifies with a key granted to the entry's
   signer before it and not revoked before it, and that signer's role may submit
   the record's kind; its JSON payload repeats no key in one object; the record is
   well formed and names the entry's VIN and kind; what it references holds as the
   sequencer checks it (a dealer's own sales; corrections by the signer or the
   operator, disputes, complaints and claims name an earlier entry of the VIN, a
   claim a sale of its signer carrying its policy; a decision is the entry right
   after its claim, with its sale and policy); and a claim is one the sequencer
   decides (``check_claim_rules``): of the kind its policy takes, dated no earlier
   than its sale and within its window around the entry's ``sequenced_at``, on a
   sale no approved return undid;
5. the VIN chain is whole: positions 0, 1, 2, … with each ``prev`` the leaf hash of
   the entry before.

Every failure is recorded with the entry it concerns; ``Report.ok`` is true only
when nothing failed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import msgspec

from core import dsse
from core.corrections import check_correction_fields
from core.errors import VinledgerError
from core.history import analyse
from core.keys import public_key_from_raw
from core.records import TRUST_KINDS, parse_record
from core.roles import KINDS_BY_ROLE, article
from core.strict_json import duplicate_key
from ledger import merkle
from ledger.bundle import Bundle, ProvedEntry, decode_bundle
from ledger.checkpoint import Checkpoint
from ledger.claim_rules import CLAIMS, check_claim_rules, policy_terms
from ledger.entry import Entry, decode_entry, record_bytes
from ledger.signing import open_checkpoint


@dataclass
class Finding:
    ok: bool
    check: str
    detail: str
    index: int | None = None


@dataclass
class Report:
    vin: str = ""
    checkpoint: Checkpoint | None = None
    findings: list[Finding] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    leaves: dict[int, bytes] = field(default_factory=dict)  # of ``entries``, by index
    trust: list[Entry] = field(default_factory=list)  # the trust entries proved included

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def passed(self, check: str, detail: str, index: int | None = None) -> None:
        self.findings.append(Finding(True, check, detail, index))

    def failed(self, check: str, detail: str, index: int | None = None) -> None:
        self.findings.append(Finding(False, check, detail, index))


@dataclass
class _Key:
    actor_id: str
    public_raw: bytes
    granted: int
    revoked: int | None = None


def verify_bundle_bytes(data: bytes, vkey: str) -> Report:
    report = Report()
    try:
        bundle = decode_bundle(data)
    except VinledgerError as err:
        report.failed("bundle", str(err))
        return report
    return verify_bundle(bundle, vkey, report)


def verify_bundle(bundle: Bundle, vkey: str, report: Report | None = None) -> Report:
    report = report or Report()
    report.vin = bundle.vin
    try:
        cp = open_checkpoint(bundle.checkpoint, vkey)
    except VinledgerError as err:
        report.failed("checkpoint", f"checkpoint signature does not verify: {err}")
        return report
    report.checkpoint = cp
    report.passed("checkpoint", f"signed by the log key, size {cp.size}")

    trust = _included(bundle.trust, cp, report, "trust")
    vehicle = _included(bundle.entries, cp, report, "vehicle")
    keys, roles = _replay_trust(trust, report)
    report.trust = [entry for _, _, entry in trust]
    by_index = {index: entry for index, _, entry in vehicle}
    for index, leaf, entry in vehicle:
        _check_signed(entry, index, keys, roles, by_index, report)
        report.entries.append(entry)
        report.leaves[index] = leaf
    _check_logged_once([*trust, *vehicle], report)
    unproven = {item.index for item in bundle.entries} - by_index.keys()
    _check_chain(bundle.vin, vehicle, report, unproven)
    return report


def _check_logged_once(items, report: Report) -> None:
    """The ledger logs a signed record once (``dsse.envelope_digest``): the same payload
    with the same signature of its signer again answers with its first entry.
    Signatures by other keys do not count, so adding one makes no new entry."""
    first: dict[bytes, int] = {}
    for index, _, entry in sorted(items, key=lambda t: t[0]):
        try:
            same = dsse.envelope_digest(entry.envelope, entry.signer.keyid)
        except VinledgerError:
            continue  # its signature check names the payload's fault
        if same in first:
            report.failed(
                "signature",
                f"entry {index} ({entry.kind}): the same signed record as entry "
                f"{first[same]}; the ledger logs a record once",
                index,
            )
        else:
            first[same] = index


def _included(items: list[ProvedEntry], cp: Checkpoint, report: Report, what: str):
    """(index, leaf hash, entry) of every item whose inclusion proof checks."""
    out = []
    for item in items:
        try:
            data = item.data
            proof = [base64.b64decode(h, validate=True) for h in item.proof]
            leaf = merkle.hash_leaf(data)
            merkle.verify_inclusion(leaf, item.index, cp.size, proof, cp.root)
            entry = decode_entry(data)
        except (VinledgerError, ValueError) as err:
            report.failed("inclusion", f"entry {item.index}: {err}", item.index)
            continue
        if entry.index != item.index:
            report.failed(
                "inclusion", f"entry {item.index} says its index is {entry.index}", item.index
            )
            continue
        out.append((item.index, leaf, entry))
    if out:
        report.passed("inclusion", f"{len(out)} {what} entries included in the checkpoint's tree")
    return sorted(out, key=lambda t: t[0])


def _replay_trust(trust, report: Report):
    keys: dict[str, _Key] = {}
    roles: dict[str, str] = {}
    by_index = {index: entry for index, _, entry in trust}
    if 0 not in by_index or 1 not in by_index:
        report.failed("trust", "the bundle lacks the genesis entries 0 and 1")
        return keys, roles
    for index, _, entry in trust:
        try:
            record = trust_record(entry)
            if index in (0, 1):
                _genesis(entry, by_index)
            else:
                key = _valid_key(keys, entry, index)
                if roles.get(key.actor_id) != "operator":
                    raise VinledgerError(f"signed by {key.actor_id!r}, who is not an operator")
                dsse.verify_envelope(entry.envelope, public_key_from_raw(key.public_raw))
            _apply(record, index, keys, roles)
        except VinledgerError as err:
            report.failed("trust", f"entry {index} ({entry.kind}): {err}", index)
    if not report.failures:
        report.passed("trust", f"{len(keys)} keys and {len(roles)} actors replayed from genesis")
    return keys, roles


def trust_record(entry: Entry):
    """The record the operator signed in a trust entry, if the entry is one the sequencer writes."""
    if entry.kind not in TRUST_KINDS:
        raise VinledgerError(f"{entry.kind!r} is not a trust kind (actor, key_grant, key_revoke)")
    if entry.vin is not None or entry.vin_seq is not None or entry.prev is not None:
        raise VinledgerError("a trust entry carries no VIN and no chain position")
    if entry.derived is not msgspec.UNSET:
        raise VinledgerError("a trust entry carries nothing derived from its record")
    check_keys_once(entry.envelope)
    record = parse_record(dsse.payload_bytes(entry.envelope))
    if record.kind != entry.kind:
        raise VinledgerError("the signed record's kind differs from the entry's")
    return record


def check_keys_once(env: dsse.Envelope) -> None:
    """Raises VinledgerError if the envelope's JSON payload repeats a key in one object.

    The sequencer refuses such a payload (``dsse.check_payload_keys``): JSON readers
    disagree on which copy counts, so one signature would stand for two records. A log
    that holds one was written by a sequencer that skipped the check.
    """
    if not dsse.is_json_type(env.payload_type):
        return
    found = duplicate_key(dsse.payload_bytes(env))
    if found is not None:
        path, key = found
        raise VinledgerError(
            f"the signed payload repeats the key {key!r} in one object ({path}): JSON "
            "readers disagree on which copy counts, so a verifier could read another "
            "record than the ledger did"
        )


def _genesis(entry: Entry, by_index: dict[int, Entry]) -> None:
    """Entry 0 makes the operator, entry 1 grants it a key; both name that key as signer."""
    operator, grant = (_genesis_record(by_index[i]) for i in (0, 1))
    if operator is None or operator.kind != "actor" or operator.role != "operator":
        raise VinledgerError("entry 0 does not create the operator")
    if grant is None or grant.kind != "key_grant":
        raise VinledgerError("entry 1 is not the operator's key grant")
    if grant.actor_id != operator.actor_id:
        raise VinledgerError("entry 1 grants a key to another actor than entry 0 created")
    signer = entry.signer
    if (signer.keyid, signer.actor_id) != (grant.key_id, operator.actor_id):
        raise VinledgerError(
            f"the entry names signer {signer.actor_id!r} with key {signer.keyid[:16]}…, "
            "not entry 0's operator with the key entry 1 grants"
        )
    dsse.verify_envelope(entry.envelope, public_key_from_raw(base64.b64decode(grant.public_key)))


def _genesis_record(entry: Entry):
    """The record of a genesis entry, or None if it is no trust entry at all."""
    try:
        return trust_record(entry)
    except VinledgerError:
        return None


def _apply(record, index: int, keys: dict[str, _Key], roles: dict[str, str]) -> None:
    """Actors and keys as the entry leaves them; refuses what the sequencer refuses."""
    if record.kind == "actor":
        if record.actor_id in roles:
            raise VinledgerError(f"actor {record.actor_id!r} already exists")
        roles[record.actor_id] = record.role
    elif record.kind == "key_grant":
        if record.actor_id not in roles:
            raise VinledgerError(f"actor {record.actor_id!r} does not exist before this grant")
        if record.key_id in keys:
            granted = keys[record.key_id].granted
            raise VinledgerError(
                f"key {record.key_id[:16]}… was already granted at entry {granted}"
            )
        keys[record.key_id] = _Key(record.actor_id, base64.b64decode(record.public_key), index)
    else:
        key = keys.get(record.key_id)
        if key is None:
            raise VinledgerError(
                f"key {record.key_id[:16]}… was not granted before this revocation"
            )
        if key.revoked is not None:
            raise VinledgerError(
                f"key {record.key_id[:16]}… was already revoked at entry {key.revoked}"
            )
        key.revoked = index


def _valid_key(keys: dict[str, _Key], entry: Entry, index: int) -> _Key:
    key = keys.get(entry.signer.keyid)
    if key is None or key.granted >= index:
        raise VinledgerError(f"key {entry.signer.keyid[:16]}… was not granted before entry {index}")
    if key.revoked is not None and key.revoked < index:
        raise VinledgerError(f"key {entry.signer.keyid[:16]}… was revoked at entry {key.revoked}")
    if key.actor_id != entry.signer.actor_id:
        raise VinledgerError(
            f"key belongs to {key.actor_id!r}, entry claims {entry.signer.actor_id!r}"
        )
    return key


def _check_signed(entry: Entry, index: int, keys, roles, by_index, report: Report) -> None:
    try:
        key = _valid_key(keys, entry, index)
        dsse.verify_envelope(entry.envelope, public_key_from_raw(key.public_raw))
        check_keys_once(entry.envelope)
        record = parse_record(record_bytes(entry))
        if record.kind != entry.kind or getattr(record, "vin", None) != entry.vin:
            raise VinledgerError("the signed record's kind or VIN differs from the entry's")
        role = roles.get(key.actor_id, "")
        if record.kind not in KINDS_BY_ROLE.get(role, ()):
            who = f"{article(role)} {role}" if role else "an unknown actor"
            raise VinledgerError(f"{who} may not sign {record.kind!r}")
        _check_references(record, index, key.actor_id, role, by_index)
    except VinledgerError as err:
        report.failed("signature", f"entry {index} ({entry.kind}): {err}", index)
        return
    report.passed("signature", f"entry {index} ({entry.kind}) signed by {key.actor_id}", index)


def _check_references(record, index: int, signer: str, role: str, by_index) -> None:
    """What the sequencer checks of a record's references, from this VIN's entries.

    A dealer records only its own sales; a correction (by the corrected entry's signer
    or the operator), a dispute and a complaint name an earlier entry of the same VIN,
    which the bundle therefore holds; a claim names a sale of its own signer (or the
    operator) carrying its policy, and is one the sequencer decides; a decision comes
    right after the claim it decides.
    """
    if record.kind == "sale" and role != "operator" and record.dealer != signer:
        raise VinledgerError(f"the sale names dealer {record.dealer!r} but {signer!r} signed it")
    if record.kind == "correction":
        earlier = _earlier(by_index, record.corrects, index, record.vin)
        if role != "operator" and earlier.signer.actor_id != signer:
            raise VinledgerError(
                f"it corrects entry {record.corrects}, signed by "
                f"{earlier.signer.actor_id!r}; only that signer or the operator may correct it"
            )
        check_correction_fields(record.fields, earlier.kind)
    elif record.kind == "dispute":
        _earlier(by_index, record.disputes, index, record.vin)
    elif record.kind == "complaint" and record.sale is not None:
        earlier = _earlier(by_index, record.sale, index, record.vin)
        if earlier.kind != "sale" or earlier.signer.actor_id != record.dealer:
            raise VinledgerError(f"entry {record.sale} is not a sale by {record.dealer!r}")
    elif record.kind in CLAIMS:
        _check_claim(record, index, signer, role, by_index)
    elif record.kind == "claim_decision":
        claim = by_index.get(record.claim)
        if record.claim != index - 1 or claim is None or claim.kind not in CLAIMS:
            raise VinledgerError(
                f"it decides entry {record.claim}, but a decision comes right after its claim"
            )
        decided = parse_record(record_bytes(claim))
        if (decided.sale, decided.policy) != (record.sale, record.policy):
            raise VinledgerError(
                f"it names sale {record.sale} and policy {record.policy!r}; the claim it "
                f"decides names sale {decided.sale} and policy {decided.policy!r}"
            )


def _earlier(by_index, ref: int, index: int, vin: str) -> Entry:
    earlier = by_index.get(ref)
    if earlier is None or ref >= index or earlier.vin != vin:
        raise VinledgerError(f"it names entry {ref}, which is no earlier entry of this VIN")
    return earlier


def _check_claim(record, index: int, signer: str, role: str, by_index) -> None:
    sale = _earlier(by_index, record.sale, index, record.vin)
    if sale.kind != "sale":
        raise VinledgerError(f"entry {record.sale} is not a sale")
    if role != "operator" and sale.signer.actor_id != signer:
        raise VinledgerError(
            f"sale {record.sale} was recorded by {sale.signer.actor_id!r}; a dealer files "
            "claims only on its own sales"
        )
    terms = sale.derived.get("terms") if isinstance(sale.derived, dict) else None
    stated = policy_terms(terms, record.policy)
    if stated is None:
        raise VinledgerError(f"sale {record.sale} carries no policy {record.policy!r}")
    check_claim_rules(
        record.kind,
        record.sale,
        record.policy,
        record.occurred_at,
        by_index[index].sequenced_at,
        policy_kind=stated.get("kind"),
        sold_at=parse_record(record_bytes(sale)).occurred_at,
        returned=_returned(by_index, record.sale, index),
    )
    decision = by_index.get(index + 1)
    if decision is None or decision.kind != "claim_decision":
        raise VinledgerError(
            f"the ledger appends a decision right after every claim; entry {index + 1} is not one"
        )


def _returned(by_index, sale: int, before: int) -> int | None:
    """The decision before ``before`` that approved a return of ``sale``, if one did."""
    for index in sorted(i for i in by_index if i < before):
        entry = by_index[index]
        if entry.kind != "claim_decision":
            continue
        try:
            decision = parse_record(record_bytes(entry))
        except VinledgerError:  # that entry's own failure
            continue
        claim = by_index.get(decision.claim)
        returns = claim is not None and claim.kind == "return_request"
        if returns and decision.sale == sale and decision.approved:
            return index
    return None


def _check_chain(vin: str, vehicle, report: Report, unproven: set[int]) -> None:
    """The VIN chain of the proven entries. A gap where a bundle entry failed its
    inclusion proof is that entry's failure, already reported: the entries after it
    are not blamed for it (their position and ``prev`` lead into the gap)."""
    prev_leaf: bytes | None = None
    prev_index = -1
    expected = 0
    broken = gaps = False
    for index, leaf, entry in sorted(vehicle, key=lambda t: t[2].vin_seq or 0):
        problem = None
        gap = any(prev_index < u < index for u in unproven)
        if entry.vin != vin:
            problem = f"is about VIN {entry.vin}, not {vin}"
        elif gap and isinstance(entry.vin_seq, int) and entry.vin_seq > expected:
            gaps = True  # the failed entry's, not this one's
        elif entry.vin_seq != expected:
            problem = (
                f"has chain position {entry.vin_seq}, expected {expected}: an entry is missing"
            )
        elif entry.prev != (None if prev_leaf is None else base64.b64encode(prev_leaf).decode()):
            problem = "does not link to the previous entry of this VIN (prev mismatch)"
        elif index <= prev_index:
            problem = "comes before the entry it follows"
        if problem:
            report.failed("chain", f"entry {index} {problem}", index)
            broken = True
        if gap and not problem and isinstance(entry.vin_seq, int):
            expected = entry.vin_seq
        prev_leaf, prev_index, expected = leaf, index, expected + 1
    if not vehicle:
        report.failed("chain", f"the bundle holds no verified entries for {vin}")
    elif not broken and not gaps:
        report.passed("chain", f"{len(vehicle)} entries form one unbroken chain for {vin}")


def recompute_view(report: Report) -> dict:
    """The history view (``core.history.analyse``) recomputed from the verified entries.

    The server's view is derived; this recomputes it from the signed entries alone so a
    verifier can check that the alerts a server shows are the ones its entries imply.
    """
    items = [
        {
            "index": e.index,
            "kind": e.kind,
            "signer": {"id": e.signer.actor_id},
            "record": msgspec.json.decode(record_bytes(e)),
        }
        for e in sorted(report.entries, key=lambda e: e.vin_seq or 0)
    ]
    return analyse(items)


def compare_view(report: Report, served: dict) -> None:
    """Record whether a server's view matches the one its bundle implies."""
    mine = recompute_view(report)
    keys = sorted(set(mine) - {"as_of"})
    differ = [k for k in keys if _strip(mine[k]) != _strip(served.get(k))]
    if differ:
        report.failed(
            "view", f"the server's history view differs from its entries in: {', '.join(differ)}"
        )
    else:
        alerts = [a["message"] for a in mine["alerts"]]
        said = (
            "no alerts"
            if not alerts
            else (f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}: " + "; ".join(alerts))
        )
        report.passed("view", f"recomputed from the entries: {said}, as served")


def _strip(value):
    """Views compare by facts; signer names and roles are not in the signed entries."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("name", "role")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
