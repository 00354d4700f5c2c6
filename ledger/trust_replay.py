"""The trust replay: actors, keys and roles as the log's trust entries make them.

Shared by the audit (over storage) and the monitor (over the tile API). Entries 0 and
1 are the genesis: the operator's actor and the grant of the key that signs both.
Every later actor, grant or revocation must be signed by an operator key valid at
its index and be one the sequencer could have appended; every other entry's key must
be granted to its signer before it, not revoked before it, and the signer's role may
sign its kind. Each failure is an ``AuditError`` naming the entry.
"""

from __future__ import annotations

import base64

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import public_key_from_raw
from core.roles import KINDS_BY_ROLE, article
from ledger.entry import Entry, decode_entry
from ledger.verify_trust import trust_record

Genesis = tuple[str, str, bytes] | str
"""(key id, operator, raw key) that entry 1 grants, or what is wrong with entry 1."""


def genesis_of(entry1: bytes | None) -> Genesis:
    """The operator key granted by entry 1 (its bytes), which signs entries 0 and 1."""
    if entry1 is None:
        return "the log has no entry 1, the operator's key grant"
    try:
        record = trust_record(decode_entry(entry1))
    except VinledgerError as err:
        return str(err)
    if record.kind != "key_grant":
        return "it is not the operator's key grant"
    return record.key_id, record.actor_id, base64.b64decode(record.public_key)


class TrustReplay:
    def __init__(self, genesis: Genesis, keys: dict | None = None, actors: dict | None = None):
        self.genesis = genesis
        self.keys: dict[str, list] = (
            {} if keys is None else keys
        )  # id -> [actor, raw, granted, revoked]
        self.actors: dict[str, tuple] = (
            {} if actors is None else actors
        )  # id -> (name, role, upline, idx)
        self.verified = 0

    def valid_key(self, index: int, keyid: str, actor_id: str, kind: str) -> bytes:
        key = self.keys.get(keyid)
        if key is None or key[2] >= index or (key[3] is not None and key[3] < index):
            raise AuditError(
                f"entry {index}: signed with a key not valid at that index", index=index
            )
        if key[0] != actor_id:
            raise AuditError(
                f"entry {index}: signed with a key of {key[0]!r}, not of {actor_id!r}", index=index
            )
        role = self.actors[actor_id][1] if actor_id in self.actors else ""
        if kind not in KINDS_BY_ROLE.get(role, ()):
            who = f"{article(role)} {role}" if role else "an unknown actor"
            raise AuditError(
                f"entry {index}: {who} may not sign {kind!r}",
                index=index,
            )
        return key[1]

    def trust(self, index: int, data: bytes) -> None:
        entry = decode_entry(data)
        try:
            record = trust_record(entry)
            if index in (0, 1):
                raw = self._genesis_signer(index, entry, record)
            else:
                raw = self.valid_key(index, entry.signer.keyid, entry.signer.actor_id, entry.kind)
            dsse.verify_envelope(entry.envelope, public_key_from_raw(raw))
            self._apply(record, index)
        except AuditError as err:
            raise AuditError(str(err), index=index if err.index is None else err.index) from None
        except VinledgerError as err:
            raise AuditError(f"entry {index}: {err}", index=index) from None
        self.verified += 1

    def _genesis_signer(self, index: int, entry: Entry, record) -> bytes:
        """Entry 0 makes the operator, entry 1 grants it a key; both name that key as signer."""
        if isinstance(self.genesis, str):
            raise AuditError(f"entry 1: {self.genesis}", index=1)
        key_id, _, raw = self.genesis
        if index == 0:
            if record.kind != "actor" or record.role != "operator":
                raise VinledgerError("the log's first entry must create the operator")
            operator = record.actor_id
        else:
            operator = next((a for a, row in self.actors.items() if row[3] == 0), None)
            if record.actor_id != operator:
                raise VinledgerError("it grants a key to another actor than entry 0 created")
        if (entry.signer.keyid, entry.signer.actor_id) != (key_id, operator):
            raise VinledgerError("its signer is not entry 0's operator with the key entry 1 grants")
        return raw

    def _apply(self, record, index: int) -> None:
        """Actors and keys as the entry leaves them; refuses what the sequencer refuses."""
        if record.kind == "actor":
            if record.actor_id in self.actors:
                raise VinledgerError(f"actor {record.actor_id!r} already exists")
            self.actors[record.actor_id] = (record.name, record.role, record.upline, index)
        elif record.kind == "key_grant":
            if record.actor_id not in self.actors:
                raise VinledgerError(f"actor {record.actor_id!r} does not exist before this grant")
            if record.key_id in self.keys:
                raise VinledgerError(f"key {record.key_id[:16]}… was already granted")
            raw = base64.b64decode(record.public_key)
            self.keys[record.key_id] = [record.actor_id, raw, index, None]
        else:
            key = self.keys.get(record.key_id)
            if key is None:
                raise VinledgerError(f"key {record.key_id[:16]}… was not granted before")
            if key[3] is not None:
                raise VinledgerError(f"key {record.key_id[:16]}… was already revoked")
            key[3] = index
