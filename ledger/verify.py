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
from core.errors import VinledgerError
from core.history import analyse
from core.keys import public_key_from_raw
from core.records import parse_record
from core.roles import KINDS_BY_ROLE, article
from ledger import merkle
from ledger.bundle import Bundle, ProvedEntry, decode_bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry, decode_entry, record_bytes
from ledger.signing import open_checkpoint
from ledger.verify_refs import check_references
from ledger.verify_trust import check_keys_once, replay_trust, valid_key


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
    keys, roles = replay_trust(trust, report)
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
    with the same signature again answers with its first entry."""
    first: dict[bytes, int] = {}
    for index, _, entry in sorted(items, key=lambda t: t[0]):
        try:
            same = dsse.envelope_digest(entry.envelope, entry.signer.keyid)
        except VinledgerError:
            continue  # its signature check names the payload's fault
        if same in first:
            report.failed(
                "once",
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


def _check_signed(entry: Entry, index: int, keys, roles, by_index, report: Report) -> None:
    # A failure is labelled by the rule it breaks: a forged or misattributed signature
    # ("signature") reads differently from a genuine signer's malformed record
    # ("record"), a kind outside its role ("role") or entries it may not name
    # ("reference").
    check = "signature"
    try:
        dsse.check_signed_once(entry.envelope)
        key = valid_key(keys, entry, index)
        dsse.verify_envelope(entry.envelope, public_key_from_raw(key.public_raw))
        check = "record"
        check_keys_once(entry.envelope)
        record = parse_record(record_bytes(entry))
        if record.kind != entry.kind or getattr(record, "vin", None) != entry.vin:
            raise VinledgerError("the signed record's kind or VIN differs from the entry's")
        check = "role"
        role = roles.get(key.actor_id, "")
        if record.kind not in KINDS_BY_ROLE.get(role, ()):
            who = f"{article(role)} {role}" if role else "an unknown actor"
            raise VinledgerError(f"{who} may not sign {record.kind!r}")
        check = "reference"
        check_references(record, index, key.actor_id, role, by_index)
    except VinledgerError as err:
        report.failed(check, f"entry {index} ({entry.kind}): {err}", index)
        return
    report.passed("signature", f"entry {index} ({entry.kind}) signed by {key.actor_id}", index)


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
            "sequenced_at": e.sequenced_at,  # when an end was logged (core/registrations.py)
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
        report.passed("view", f"recomputed from the entries: {_alerts_said(mine)}, as served")


def read_view(report: Report) -> None:
    """What a verified bundle's entries say about the car (a saved bundle has no server
    view beside it to compare): its alerts, recomputed, so that a verified history of a
    flooded or rolled-back car does not read as a clean one."""
    report.passed("view", f"recomputed from the entries: {_alerts_said(recompute_view(report))}")


def _alerts_said(view: dict) -> str:
    alerts = [a["message"] for a in view["alerts"]]
    if not alerts:
        return "no alerts"
    return f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}: " + "; ".join(alerts)


def _strip(value):
    """Views compare by facts; signer names and roles are not in the signed entries."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("name", "role")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
