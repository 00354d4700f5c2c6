"""What ``vinledger submit`` leaves on disk besides its output: receipts and refused rows.

``--receipts FILE`` (JSON Lines): one line for each input the ledger logged or
already held, the ledger's receipt as it answered it (docs/formats.md, **The
receipt**) with ``where`` (``file:line``, or the file) in front, written as the
answers come, so a run stopped halfway keeps every receipt it was given. The file is
appended to: run the same command again and the rows whose receipt is there already
(the same ``where`` and ``leaf_hash``) are not written twice, the others are added. A
last line cut short by a run killed while writing it is dropped. ``vinledger
verify-receipt FILE --vkey VKEY`` checks them offline.

``--refused FILE``: the refused JSON Lines rows, verbatim, one a line in input order,
so FILE is the one to fix and submit again; ``FILE.reasons`` says why, a line each:
``FILE:N (was titles-1.jsonl:17): <reason>``, or ``one.json: <reason>`` for a record
or envelope file (fix that file itself). Both are written afresh by every run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import msgspec

from core.errors import InvalidInput


class _Seen(msgspec.Struct):
    where: str = ""
    leaf_hash: str = ""


_SEEN = msgspec.json.Decoder(_Seen)


def reasons_path(refused: Path) -> Path:
    return refused.with_name(refused.name + ".reasons")


class Keeper:
    """The receipts and refused-rows files of one run; with neither, it keeps nothing."""

    def __init__(self, receipts: Path | None = None, refused: Path | None = None):
        self.receipts_path = receipts
        self.refused_path = refused
        self.receipts: BinaryIO | None = None
        self.refused: BinaryIO | None = None
        self.reasons: BinaryIO | None = None
        self.seen: set[tuple[str, str]] = set()
        self.rows = 0  # refused rows written

    def check_inputs(self, inputs: list[Path]) -> str | None:
        """Why the files given cannot be written (one is an input), or None."""
        ours = [p for p in (self.receipts_path, self.refused_path) if p is not None]
        if self.refused_path is not None:
            ours.append(reasons_path(self.refused_path))
        for out in ours:
            for given in inputs:
                if out.exists() and os.path.samefile(out, given):
                    return (
                        f"{out} is one of the records given: write receipts and refused "
                        "rows to another file (copy it first to submit it again)"
                    )
        return None

    def __enter__(self) -> Keeper:
        try:
            if self.receipts_path is not None:
                self.seen = _trimmed_and_seen(self.receipts_path)
                self.receipts = self.receipts_path.open("ab")
            if self.refused_path is not None:
                self.refused = self.refused_path.open("wb")
                self.reasons = reasons_path(self.refused_path).open("wb")
        except OSError as err:
            self.__exit__()
            raise InvalidInput(
                f"cannot write {err.filename}: {err.strerror}; give a file in a directory "
                "you can write to"
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        for f in (self.receipts, self.refused, self.reasons):
            if f is not None:
                f.close()

    def receipt(self, where: str, answer: dict) -> None:
        """One line for the ledger's receipt of ``where``, unless it is there already."""
        if self.receipts is None:
            return
        if (where, answer.get("leaf_hash", "")) in self.seen:
            return
        # The receipt's fields as the ledger sent them, ``where`` first; one write of
        # a whole line, flushed, so a run stopped at any point leaves whole lines.
        line = msgspec.json.encode({"where": where, **answer}) + b"\n"
        self.receipts.write(line)

    def flush(self) -> None:
        for f in (self.receipts, self.refused, self.reasons):
            if f is not None:
                f.flush()

    def refusal(self, where: str, row: bytes | None, why: str) -> None:
        """``row`` (None: a whole file) into the refused file, and why beside it."""
        if self.refused is None or self.reasons is None:
            return
        if row is None:
            said = f"{where}: {why}"
        else:
            self.refused.write(row + b"\n")
            self.rows += 1
            said = f"{self.refused_path}:{self.rows} (was {where}): {why}"
        self.reasons.write(said.encode("utf-8", "replace") + b"\n")


def _trimmed_and_seen(path: Path) -> set[tuple[str, str]]:
    """(where, leaf hash) of the receipts in ``path``, after dropping a last line that a
    run killed while writing it left cut short."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        whole = data.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(whole)
        data = data[:whole]
    seen = set()
    for line in data.splitlines():
        try:
            r = _SEEN.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # not ours to judge here: verify-receipt names it
        seen.add((r.where, r.leaf_hash))
    return seen
