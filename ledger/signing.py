"""The log's signing key: turns checkpoints into C2SP signed notes.

The key name is the log's origin, as tlog-checkpoint recommends, so the verifier key
text (``<origin>+<key hash>+<key>``) is all a client needs to pin.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from core.errors import VerificationError
from core.note import open_note, parse_verifier_key, sign_note, verifier_key_text
from ledger.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from ledger.merkle import EMPTY_ROOT
from ledger.storage import latest_checkpoint


class LogSigner:
    def __init__(self, origin: str, private_key: Ed25519PrivateKey):
        self.origin = origin
        self.private_key = private_key
        self.vkey = verifier_key_text(origin, private_key.public_key())

    def sign(self, cp: Checkpoint) -> str:
        return sign_note(format_checkpoint(cp), self.origin, self.private_key)

    def latest_note(self, s: Session) -> str:
        row = latest_checkpoint(s)
        if row is not None:
            return row.note
        return self.sign(Checkpoint(self.origin, 0, EMPTY_ROOT))


def open_checkpoint(note: str, vkey: str) -> Checkpoint:
    """The checkpoint in ``note`` if the log key ``vkey`` signed it; raises otherwise."""
    verifier = parse_verifier_key(vkey)
    opened = open_note(note, [verifier])
    cp = parse_checkpoint(opened.text)
    # The key names the log it signs for; a checkpoint of another log is not this log's.
    if cp.origin != verifier.name:
        raise VerificationError(
            f"the checkpoint is for log {cp.origin!r}, but the key is {verifier.name!r}'s"
        )
    return cp
