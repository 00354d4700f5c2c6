"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile paths, entry bundles, tile nodes.

A tile at level L is 256 consecutive Merkle tree hashes at tree level ``8 * L``;
the n-th holds ``MTH(D[(n * 256 + i) * 256**L : (n * 256 + i + 1) * 256**L])`` for
``i`` below its width. Entry bundles are the entries of a level 0 tile, each as a
big-endian uint16 length followed by the entry bytes.

Paths are the part after ``<prefix>/tile/``: ``<L>/<N>[.p/<W>]`` for hashes and
``entries/<N>[.p/<W>]`` for bundles. N is written in 3-digit path elements, all but
the last prefixed by ``x`` (1234067 is ``x001/x234/067``), as golang.org/x/mod/sumdb/
tlog's ``Tile.Path`` writes it; W, for partial tiles only, is 1 to 255.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InvalidInput

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
ENTRIES = "entries"

# The shape only; canonical form (no leading zeros, no x000 first element, width
# below 256, level up to 63) is then checked by formatting the result back. Seven
# x-elements (indexes below 10**24) cover any tile of a tree with 2**64 leaves.
_TILE_PATH = re.compile(
    r"(?P<level>entries|[0-9]{1,2})/(?P<index>(?:x[0-9]{3}/){0,7}[0-9]{3})"
    r"(?:\.p/(?P<width>[0-9]{1,3}))?"
)

_EXPECTED = (
    "expected <L>/<N>[.p/<W>] or entries/<N>[.p/<W>], where L is 0 to 63, N is written in "
    '3-digit elements with all but the last prefixed by "x" (e.g. 0/x001/x234/067), and W '
    "is 1 to 255 without leading zeros (e.g. entries/005.p/7)"
)


@dataclass(frozen=True)
class TilePath:
    """A tile (``level`` 0–63) or an entry bundle (``level`` None), full or partial."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"tile level must be 0 to {MAX_LEVEL} or None; got {self.level}")
        if self.index < 0:
            raise ValueError(f"tile index must be >= 0; got {self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"tile width must be 1 to {TILE_WIDTH}; got {self.width}")

    @property
    def path(self) -> str:
        return format_tile_path(self.level, self.index, self.width)


def _index_elements(index: int) -> str:
    """N in 3-digit elements, all but the last prefixed by ``x``, as tlog's Tile.Path."""
    out = f"{index % 1000:03d}"
    while index >= 1000:
        index //= 1000
        out = f"x{index % 1000:03d}/{out}"
    return out


def format_tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """The path after ``tile/``, e.g. ``0/x001/x234/067`` or ``entries/005.p/7``."""
    TilePath(level, index, width)  # one place validates the coordinates
    head = ENTRIES if level is None else str(level)
    partial = "" if width == TILE_WIDTH else f".p/{width}"
    return f"{head}/{_index_elements(index)}{partial}"


def parse_tile_path(path: str) -> TilePath:
    """The inverse of :func:`format_tile_path`; anything not in canonical form is refused."""
    m = _TILE_PATH.fullmatch(path)
    if m is None:
        raise InvalidInput(f"malformed tile path {path!r}; {_EXPECTED}")
    level = None if m["level"] == ENTRIES else int(m["level"])
    index = int(m["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH if m["width"] is None else int(m["width"])
    try:
        tile = TilePath(level, index, width)
    except ValueError:
        raise InvalidInput(f"malformed tile path {path!r}; {_EXPECTED}") from None
    # Leading zeros, an x000 first element or ".p/256" would name the tile a second way.
    if tile.path != path:
        raise InvalidInput(f"malformed tile path {path!r}; {_EXPECTED}")
    return tile


def tile_coords(level: int, index: int, width: int) -> list[tuple[int, int]]:
    """The stored tree nodes ``(level * 8, index * 256 + i)``, i < width, that make the tile."""
    if level is None:
        raise ValueError("an entry bundle has no tree nodes; give a tile level 0 to 63")
    TilePath(level, index, width)
    start = index * TILE_WIDTH
    return [(level * TILE_HEIGHT, start + i) for i in range(width)]


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Each entry as a big-endian uint16 length and its bytes, concatenated."""
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(
                f"entry {i} is {len(entry)} bytes; an entry bundle holds entries of at most "
                f"{MAX_ENTRY_SIZE} bytes"
            )
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; InvalidInput if it ends inside a length or an entry."""
    entries: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise InvalidInput(
                f"entry bundle is truncated: entry {len(entries)} has only part of its "
                "2-byte length"
            )
        size = int.from_bytes(data[at : at + 2], "big")
        at += 2
        if at + size > len(data):
            raise InvalidInput(
                f"entry bundle is truncated: entry {len(entries)} says {size} bytes but "
                f"only {len(data) - at} remain"
            )
        entries.append(bytes(data[at : at + size]))
        at += size
    return entries
