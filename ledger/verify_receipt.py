"""Offline check of a submission's receipt against the log's verifier key only.

A receipt (``POST /records``'s answer, one of ``POST /records/batch``'s results, a line
of ``vinledger submit --receipts``) holds the entry's bytes, its index and leaf hash, a
signed checkpoint of tree size ``size`` and the RFC 9162 §2.1.3 inclusion path of the
entry in that tree. It proves the entry is in the log whatever the ledger says later:

1. the checkpoint is a C2SP signed note by the log key, of the receipt's ``size``;
2. the leaf hash is the RFC 9162 hash of the entry bytes, and the receipt's
   ``leaf_hash`` is that hash;
3. the inclusion proof leads from that leaf at ``index`` to the checkpoint's root;
4. the entry says it is entry ``index``.

It does not check the entry's signature: that needs the log's trust entries, which a
vehicle bundle carries (``vinledger verify``). Nor does it prove the receipt's other
fields (``status``, ``created``, ``warnings``, a claim's ``decision``): they are what
the ledger said when it answered, and anyone holding the file can edit them. A claim's
decision is entry ``index`` + 1, which ``vinledger verify`` checks. A receipt that
repeats a key is refused: readers disagree on which of its values counts.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from core.errors import InvalidInput, ProofError, VerificationError, VinledgerError
from core.strict_json import duplicate_key
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry, decode_entry
from ledger.signing import open_checkpoint


class Receipt(msgspec.Struct):
    """The fields of a receipt that prove its entry; others (``where``, ``status``,
    ``created``, ``warnings``, ``decision``) are read by whoever wants them."""

    index: int
    leaf_hash: str
    size: int
    checkpoint: str
    inclusion_proof: list[str]
    entry: str


_RECEIPT = msgspec.json.Decoder(Receipt)
PROVEN = frozenset(Receipt.__struct_fields__)  # what the proof covers, of a receipt's fields


def decode_receipt(data: bytes | str) -> Receipt:
    """A receipt's JSON; InvalidInput names what is missing or wrong."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if (repeated := duplicate_key(raw)) is not None:
        path, key = repeated
        raise InvalidInput(
            f"not a receipt: it repeats the key {key!r} ({path}), and readers disagree on "
            "which value counts; keep the one the ledger sent"
        )
    try:
        return _RECEIPT.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as err:
        raise InvalidInput(f"not a receipt: {err}") from None


def _base64(what: str, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"the receipt's {what} is not standard base64") from None


def verify_receipt(
    receipt: Receipt, vkey: str, opened: dict[str, Checkpoint] | None = None
) -> Entry:
    """The receipt's entry, once proved in a checkpoint signed by ``vkey``; raises
    VerificationError (or InvalidInput for a receipt that cannot be read) otherwise.
    ``opened``: checkpoints already opened, by note text (a load's receipts share them)."""
    opened = {} if opened is None else opened
    cp = opened.get(receipt.checkpoint)
    if cp is None:
        try:
            cp = open_checkpoint(receipt.checkpoint, vkey)
        except VinledgerError as err:
            raise VerificationError(f"the checkpoint is not the log's: {err}") from None
        opened[receipt.checkpoint] = cp
    if cp.size != receipt.size:
        raise VerificationError(
            f"the receipt says size {receipt.size}, its checkpoint is of size {cp.size}"
        )
    data = _base64("entry", receipt.entry)
    leaf = merkle.hash_leaf(data)
    if _base64("leaf_hash", receipt.leaf_hash) != leaf:
        raise ProofError("the receipt's leaf_hash is not the hash of its entry")
    proof = [_base64("inclusion_proof", h) for h in receipt.inclusion_proof]
    merkle.verify_inclusion(leaf, receipt.index, cp.size, proof, cp.root)
    entry = decode_entry(data)
    if entry.index != receipt.index:
        raise VerificationError(
            f"the entry says it is entry {entry.index}, the receipt {receipt.index}"
        )
    return entry
