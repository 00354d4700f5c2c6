"""ledger.tiles: C2SP tlog-tiles paths, entry bundles and the nodes a tile holds."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.errors import InvalidInput
from ledger import merkle
from ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TilePath,
    decode_entry_bundle,
    encode_entry_bundle,
    format_tile_path,
    parse_tile_path,
    tile_coords,
)

# ---- paths ------------------------------------------------------------------------

KNOWN = [
    ("0/x001/x234/067", TilePath(0, 1234067, 256)),  # the spec's example
    ("0/000", TilePath(0, 0, 256)),
    ("0/999", TilePath(0, 999, 256)),
    ("0/x001/000", TilePath(0, 1000, 256)),
    ("1/000.p/12", TilePath(1, 0, 12)),
    ("63/x123/456.p/255", TilePath(63, 123456, 255)),
    ("entries/005", TilePath(None, 5, 256)),
    ("entries/x002/123.p/7", TilePath(None, 2123, 7)),
    ("entries/000.p/1", TilePath(None, 0, 1)),
]


@pytest.mark.parametrize(("path", "tile"), KNOWN)
def test_known_paths(path: str, tile: TilePath):
    assert parse_tile_path(path) == tile
    assert format_tile_path(tile.level, tile.index, tile.width) == path
    assert tile.path == path


def test_width_defaults_to_a_full_tile():
    assert TILE_WIDTH == 256 and TILE_HEIGHT == 8
    assert format_tile_path(2, 7) == "2/007"
    assert TilePath(2, 7) == TilePath(2, 7, 256)


BAD = [
    "",
    "0",
    "0/",
    "0/1",
    "0/01",
    "0/0001",
    "00/000",
    "01/000",
    "64/000",
    "100/000",
    "0/x000/001",
    "0/x001",
    "0/001/002",
    "0/x001/x002",
    "0/x01/002",
    "0/x0001/002",
    "0/000.p/0",
    "0/000.p/256",
    "0/000.p/007",
    "0/000.p/",
    "0/000.p",
    "0/000.p/1/",
    "0/000.p/1000",
    "0/000.p/+1",
    "0/000.p/-1",
    "0/000.P/1",
    "0/000.q/1",
    "0/000p/1",
    "/0/000",
    "0//000",
    "0/000/",
    "tile/0/000",
    "../000",
    "0/../000",
    "0/./000",
    "entries/../000",
    "entries/..",
    "entries",
    "entries/",
    "entries/0",
    "entries/x000/001",
    "entries/000.p/256",
    "entry/000",
    "Entries/000",
    "data/000",
    "8/0/000",
    "0/00a",
    "0/+00",
    "0/-01",
    "0/ 00",
    "0/000 ",
    " 0/000",
    "0/000\n",
    "0\\000",
    "0/\uff10\uff10\uff10",
    "\u0661/000",
    "-1/000",
    "1e1/000",
    "0x1/000",
    "0/x-01/000",
]


@pytest.mark.parametrize("path", BAD)
def test_bad_paths_are_refused_with_the_expected_form(path: str):
    with pytest.raises(InvalidInput) as err:
        parse_tile_path(path)
    assert "expected <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]" in str(err.value)
    assert repr(path) in str(err.value)


levels = st.none() | st.integers(0, 63)
indexes = st.integers(0, 2**56)
widths = st.integers(1, TILE_WIDTH)


def test_absurdly_long_index_is_invalid_input_not_a_crash():
    with pytest.raises(InvalidInput):
        parse_tile_path("0/" + "x001/" * 2000 + "000")


@given(levels, indexes, widths)
def test_format_then_parse_round_trips(level, index: int, width: int):
    path = format_tile_path(level, index, width)
    assert parse_tile_path(path) == TilePath(level, index, width)


PATH_ALPHABET = "0123456789x/.pentris"


@given(st.text(alphabet=PATH_ALPHABET, max_size=30) | st.text(max_size=30))
def test_junk_is_refused_or_canonical(junk: str):
    """Whatever parses is the one canonical spelling of its tile; the rest is InvalidInput."""
    try:
        tile = parse_tile_path(junk)
    except InvalidInput:
        return
    assert tile.path == junk


@given(levels, indexes, widths, st.data())
def test_any_edit_of_a_valid_path_is_refused_or_names_another_tile(level, index, width, data):
    path = format_tile_path(level, index, width)
    at = data.draw(st.integers(0, len(path)))
    edit = data.draw(st.sampled_from(["insert", "delete", "replace"]))
    ch = data.draw(st.sampled_from(PATH_ALPHABET + "Xq "))
    if edit == "insert":
        junk = path[:at] + ch + path[at:]
    elif edit == "delete":
        junk = path[:at] + path[at + 1 :]
    else:
        junk = path[:at] + ch + path[at + 1 :]
    assume(junk != path)
    try:
        tile = parse_tile_path(junk)
    except InvalidInput:
        return
    assert tile != TilePath(level, index, width)
    assert tile.path == junk


@pytest.mark.parametrize(
    ("level", "index", "width"), [(64, 0, 256), (-1, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)]
)
def test_format_refuses_impossible_tiles(level, index, width):
    with pytest.raises(ValueError):
        format_tile_path(level, index, width)


# ---- the nodes of a tile ----------------------------------------------------------


def test_tile_coords_are_tree_nodes_at_eight_times_the_level():
    assert tile_coords(1, 2, 3) == [(8, 512), (8, 513), (8, 514)]
    assert tile_coords(0, 0, 256) == [(0, i) for i in range(256)]


@given(st.integers(0, 7), st.integers(0, 2**40), widths)
def test_tile_coords_cover_what_the_spec_says(level: int, index: int, width: int):
    """Hash i of tile n at level l is MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l])."""
    coords = tile_coords(level, index, width)
    assert len(coords) == width
    for i, (node_level, n) in enumerate(coords):
        lo, hi = n << node_level, (n + 1) << node_level
        assert lo == (index * 256 + i) * 256**level
        assert hi == (index * 256 + i + 1) * 256**level


def test_level_0_partial_tile_holds_the_leaf_hashes():
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(5)]
    nodes = {(0, i): h for i, h in enumerate(leaves)}
    assert [nodes[c] for c in tile_coords(0, 0, 5)] == leaves


def test_tile_coords_refuse_bundles_and_bad_widths():
    for args in [(None, 0, 1), (0, 0, 0), (0, 0, 257), (64, 0, 1), (0, -1, 1)]:
        with pytest.raises(ValueError):
            tile_coords(*args)


# ---- entry bundles ----------------------------------------------------------------


def test_entry_bundle_encoding_is_uint16_length_prefixed():
    assert encode_entry_bundle([b"ab", b"", b"\xff"]) == b"\x00\x02ab\x00\x00\x00\x01\xff"
    assert encode_entry_bundle([]) == b""
    big = b"x" * 0xFFFF
    assert encode_entry_bundle([big])[:2] == b"\xff\xff"
    assert decode_entry_bundle(encode_entry_bundle([big])) == [big]


def test_entries_over_65535_bytes_are_refused():
    with pytest.raises(ValueError, match="65535"):
        encode_entry_bundle([b"ok", b"x" * 0x10000])


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_entry_bundles_round_trip(entries: list[bytes]):
    assert decode_entry_bundle(encode_entry_bundle(entries)) == entries


def test_truncation_messages_say_where():
    with pytest.raises(InvalidInput, match="entry 1 has only part of its 2-byte length"):
        decode_entry_bundle(b"\x00\x01a\x00")
    with pytest.raises(InvalidInput, match="entry 0 says 3 bytes but only 2 remain"):
        decode_entry_bundle(b"\x00\x03ab")


@given(st.lists(st.binary(max_size=50), min_size=1, max_size=10), st.data())
def test_truncated_bundles_are_refused(entries: list[bytes], data):
    bundle = encode_entry_bundle(entries)
    boundaries = {0}
    at = 0
    for e in entries:
        at += 2 + len(e)
        boundaries.add(at)
    cut = data.draw(st.integers(0, len(bundle) - 1).filter(lambda c: c not in boundaries))
    with pytest.raises(InvalidInput, match="truncated"):
        decode_entry_bundle(bundle[:cut])
