"""What ``vinledger submit`` leaves on disk besides its output: receipts and refused rows.

``--receipts FILE`` (JSON Lines): one line for each input the ledger logged or
already held, the ledger's receipt as it answered it (docs/formats.md, **The
receipt**) with ``where`` (``file:line``, or the file) in front, written as the
answers come, so a run stopped halfway keeps every receipt it was given. The file is
appended to: run the same command again and the rows whose receipt is there already
(the same ``where`` and ``leaf_hash``) are not written twice, the others are added. A
last line cut short by a run killed while writing it is dropped (a whole one that only
lacks its newline gets it); a file with a line that is no receipt is not appended to.
One run at a time writes a receipts file (a lock, where the system has ``flock``); a
terminal or pipe (``/dev/stdout``) is written to, never read back, but a regular file
standard output goes to is refused (the summary would write over it). ``vinledger
verify-receipt FILE --vkey VKEY`` checks them offline.

``--refused FILE``: the refused JSON Lines rows, verbatim, one a line in input order,
so FILE is the one to fix and submit again; ``FILE.reasons`` says why, a line each:
``FILE:N (was titles-1.jsonl:17): <reason>``, or ``one.json: <reason>`` for a record
or envelope file (fix that file itself). Both are written afresh by every run, once
locked as the receipts are: a file another run is writing is refused, never emptied.

No two of the three may be one file, and none an input. A file that cannot be written
(a full disk) stops the run with ``WriteFailed``: the same command again finishes it.
"""

from __future__ import annotations

import os
import stat
from itertools import combinations
from pathlib import Path
from typing import BinaryIO

import msgspec

from core.errors import InvalidInput, VinledgerError


class _Seen(msgspec.Struct):
    """What makes a line a receipt of ours."""

    where: str
    leaf_hash: str


_SEEN = msgspec.json.Decoder(_Seen)
_BEGINNING = b'{"where":'  # how each receipt line begins


def reasons_path(refused: Path) -> Path:
    return refused.with_name(refused.name + ".reasons")


class WriteFailed(VinledgerError):
    """A receipts or refused file could not be written (a full disk, a file too large)."""

    def __init__(self, path: Path | None, err: OSError):
        super().__init__(
            f"cannot write {path}: {err.strerror or err}; free space and run the same "
            "command again (what was logged is answered with its entry, never twice)"
        )


def _text(where: str) -> str:
    """``where`` as JSON can hold it: a file name's bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(where).decode("utf-8", "backslashreplace")


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file, made yet or not."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def _standard_stream(what: str, path: Path) -> str | None:
    """Why ``path`` cannot be written, when it is the regular file this process's
    standard output or error goes to (``--receipts /dev/stdout > out.txt``): the
    summary and the messages would write over it. A pipe or terminal is fine."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    for fd, name in ((1, "standard output"), (2, "standard error")):
        try:
            std = os.fstat(fd)
        except OSError:
            continue
        if (std.st_dev, std.st_ino) == (st.st_dev, st.st_ino):
            return (
                f"{what} {path} is the file {name} is written to: the summary and messages "
                f"would write over it; give {what} a file of its own and keep {name} for "
                "the summary"
            )
    return None


class Keeper:
    """The receipts and refused-rows files of one run; with neither, it keeps nothing."""

    def __init__(self, receipts: Path | None = None, refused: Path | None = None):
        self.receipts_path = receipts
        self.refused_path = refused
        self.reasons_path = reasons_path(refused) if refused is not None else None
        self.receipts: BinaryIO | None = None
        self.refused: BinaryIO | None = None
        self.reasons: BinaryIO | None = None
        self.seen: set[tuple[str, str]] = set()
        self.rows = 0  # refused rows written

    def _outputs(self) -> list[tuple[str, Path]]:
        """(what it is, path) of each file this run writes."""
        ours = []
        if self.receipts_path is not None:
            ours.append(("--receipts", self.receipts_path))
        if self.refused_path is not None and self.reasons_path is not None:
            ours.append(("--refused", self.refused_path))
            ours.append(("--refused's reasons file", self.reasons_path))
        return ours

    def check_inputs(self, inputs: list[Path]) -> str | None:
        """Why the files given cannot be written (one is an input, or two are one
        file: each would write over the other), or None."""
        for (one, a), (other, b) in combinations(self._outputs(), 2):
            if _same(a, b):
                return (
                    f"{one} {a} and {other} {b} are the same file: give each a file of its "
                    "own (one would write over the other)"
                )
        for what, out in self._outputs():
            if said := _standard_stream(what, out):
                return said
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
                self.receipts, self.seen = _open_receipts(self.receipts_path)
            if self.refused_path is not None:
                # Both locked before either is emptied: a file another run holds is
                # refused with not a byte of either lost.
                self.refused = _open_locked(self.refused_path)
                self.reasons = _open_locked(self.reasons_path)
                for f in (self.refused, self.reasons):
                    _empty(f)
        except OSError as err:
            self.__exit__()
            raise InvalidInput(
                f"cannot write {err.filename}: {err.strerror}; give a file in a directory "
                "you can write to"
            ) from None
        except InvalidInput:
            self.__exit__()
            raise
        return self

    def _files(self) -> list[tuple[BinaryIO, Path | None]]:
        return [
            (f, path)
            for f, path in (
                (self.receipts, self.receipts_path),
                (self.refused, self.refused_path),
                (self.reasons, self.reasons_path),
            )
            if f is not None
        ]

    def __exit__(self, *exc) -> None:
        failed = None
        for f, path in self._files():
            try:
                f.close()  # writes what is left
            except OSError as err:
                failed = failed or WriteFailed(path, err)
        if failed is not None and not any(exc):  # else that error is the one to say
            raise failed

    def receipt(self, where: str, answer: dict) -> None:
        """One line for the ledger's receipt of ``where``, unless it is there already."""
        if self.receipts is None:
            return
        where = _text(where)
        if (where, answer.get("leaf_hash", "")) in self.seen:
            return
        # The receipt's fields as the ledger sent them, ``where`` first; one write of
        # a whole line, flushed, so a run stopped at any point leaves whole lines.
        line = msgspec.json.encode({"where": where, **answer}) + b"\n"
        self._write(self.receipts, self.receipts_path, line)

    def flush(self) -> None:
        for f, path in self._files():
            try:
                f.flush()
            except OSError as err:
                raise WriteFailed(path, err) from None

    @staticmethod
    def _write(f: BinaryIO, path: Path | None, data: bytes) -> None:
        try:
            f.write(data)
        except OSError as err:
            raise WriteFailed(path, err) from None

    def refusal(self, where: str, row: bytes | None, why: str) -> None:
        """``row`` (None: a whole file) into the refused file, and why beside it."""
        if self.refused is None or self.reasons is None:
            return
        if row is None:
            said = f"{where}: {why}"
        else:
            self._write(self.refused, self.refused_path, row + b"\n")
            self.rows += 1
            said = f"{self.refused_path}:{self.rows} (was {where}): {why}"
        self._write(self.reasons, self.reasons_path, said.encode("utf-8", "replace") + b"\n")


def _open_receipts(path: Path) -> tuple[BinaryIO, set[tuple[str, str]]]:
    """``path`` open to append receipts to, locked for this run, and (where, leaf hash)
    of the receipts in it. A terminal or a pipe (``/dev/stdout``) is only written to:
    reading it would wait for input that never comes."""
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        regular = True  # made now
    if not regular:
        return path.open("ab"), set()
    f = path.open("a+b")
    try:
        _lock(f, path)
        return f, _trimmed_and_seen(f, path)
    except BaseException:
        f.close()
        raise


def _open_locked(path: Path) -> BinaryIO:
    """``path`` open to write, not yet emptied (``_empty``), locked for this run: a file
    another run is writing (its receipts, its refused rows) is refused, not cut."""
    f = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666), "wb")
    try:
        if _regular(f):
            _lock(f, path)
        return f
    except BaseException:
        f.close()
        raise


def _empty(f: BinaryIO) -> None:
    """``f`` written afresh; a terminal, a pipe or a device is only written to."""
    if _regular(f):
        f.truncate(0)


def _regular(f: BinaryIO) -> bool:
    return stat.S_ISREG(os.fstat(f.fileno()).st_mode)


def _lock(f: BinaryIO, path: Path) -> None:
    """Keep a second run from a file this one writes: it would cut this one's lines."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one run a receipts file is the user's to keep
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InvalidInput(
            f"{path} is being written by another `vinledger submit` (a load still running "
            "with it as --receipts or --refused): wait for it to end, or give another file"
        ) from None
    except OSError:  # a file system without locks (some network ones): go on without
        return


def _trimmed_and_seen(f: BinaryIO, path: Path) -> set[tuple[str, str]]:
    """(where, leaf hash) of the receipts in ``f`` (``path``, open to read and append).

    A last line without its newline is what a run stopped while writing it left: a
    receipt cut short (JSON that does not parse, begun as our lines begin) is dropped, a
    whole one gets its newline. Any other line that is no receipt of ours refuses the
    file: it is someone else's, not to be appended to.
    """
    seen = set()
    kept = 0  # bytes of whole lines
    tail = b""
    f.seek(0)
    for n, line in enumerate(f, start=1):
        if not line.endswith(b"\n"):
            tail = line
        text = line.rstrip(b"\r\n")
        if text.strip():
            try:
                r = _SEEN.decode(text)
            except msgspec.ValidationError as err:  # JSON, but no receipt
                raise _not_receipts(path, n, err) from None
            except (msgspec.DecodeError, UnicodeDecodeError) as err:
                if not tail or not _cut_short(text):
                    raise _not_receipts(path, n, err) from None
                f.truncate(kept)  # cut short
                return seen
            seen.add((r.where, r.leaf_hash))
        kept += len(line)
    if tail:
        f.write(b"\n")
        f.flush()
    return seen


def _cut_short(tail: bytes) -> bool:
    """Whether a last line that does not parse is one of our receipts cut short: begun
    as our lines begin, or cut within that beginning (``{``, ``{"wh``), or only the NUL
    bytes a file system leaves where a write was not made."""
    return tail.startswith(_BEGINNING) or _BEGINNING.startswith(tail) or not tail.strip(b"\0")


def _not_receipts(path: Path, n: int, err: Exception) -> InvalidInput:
    return InvalidInput(
        f"{path}:{n} is not a receipt ({err}): --receipts appends to a file of receipts "
        "only; give it a new file, or one an earlier run wrote"
    )
