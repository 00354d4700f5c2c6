"""The C2SP tlog-tiles read API under ``/log/``, so existing tlog clients can audit us."""

from __future__ import annotations

import base64

from litestar import Controller, Response, get
from litestar.params import Parameter

from api.service import Ledger
from ledger.tiles import TILE_WIDTH, parse_tile_path

TEXT = "text/plain"  # Litestar adds "; charset=utf-8" itself (one charset, DESIGN.md)
IMMUTABLE = "public, max-age=31536000, immutable"


class LogController(Controller):
    path = "/log"
    tags = ["log"]

    @get("/checkpoint", media_type=TEXT, sync_to_thread=True, summary="Latest signed checkpoint")
    def checkpoint(self, ledger: Ledger) -> Response[str]:
        """The latest C2SP checkpoint, a signed note by the log key."""
        return Response(
            ledger.reader.checkpoint(), media_type=TEXT, headers={"Cache-Control": "no-cache"}
        )

    @get("/vkey", media_type=TEXT, sync_to_thread=False, summary="The log's verifier key")
    def vkey(self, ledger: Ledger) -> Response[str]:
        """The signed-note verifier key of the log. Clients should pin it, not fetch it."""
        return Response(ledger.vkey + "\n", media_type=TEXT)

    @get(
        "/tile/{path:path}",
        sync_to_thread=True,
        summary="Hash tile or entry bundle",
        media_type="application/octet-stream",
    )
    def tile(self, ledger: Ledger, path: str) -> Response[bytes]:
        """``tile/<L>/<N>[.p/<W>]`` (hashes) or ``tile/entries/<N>[.p/<W>]`` (entries)."""
        ref = parse_tile_path(path.lstrip("/"))
        data = ledger.reader.tile(ref)
        cache = IMMUTABLE if ref.width == TILE_WIDTH else "no-cache"
        return Response(
            data, media_type="application/octet-stream", headers={"Cache-Control": cache}
        )

    @get("/proof/inclusion", sync_to_thread=True, summary="Inclusion proof")
    def inclusion(
        self,
        ledger: Ledger,
        index: int = Parameter(ge=0, description="leaf index"),
        size: int = Parameter(ge=1, description="tree size of a checkpoint"),
    ) -> dict:
        """RFC 9162 inclusion path of entry ``index`` in the tree of ``size`` leaves."""
        hashes = ledger.reader.inclusion(index, size)
        return {
            "index": index,
            "size": size,
            "hashes": [base64.b64encode(h).decode() for h in hashes],
        }

    @get("/proof/consistency", sync_to_thread=True, summary="Consistency proof")
    def consistency(
        self,
        ledger: Ledger,
        first: int = Parameter(ge=1, description="the smaller tree size"),
        second: int = Parameter(ge=1, description="the larger tree size"),
    ) -> dict:
        """RFC 9162 consistency proof between two tree sizes."""
        hashes = ledger.reader.consistency(first, second)
        return {
            "first": first,
            "second": second,
            "hashes": [base64.b64encode(h).decode() for h in hashes],
        }

    @get(
        "/proof/entry/{index:int}",
        media_type=TEXT,
        sync_to_thread=True,
        summary="Offline receipt (C2SP tlog-proof)",
    )
    def receipt(self, ledger: Ledger, index: int) -> Response[str]:
        """An offline receipt for entry ``index`` against the latest checkpoint."""
        return Response(ledger.reader.receipt(index), media_type=TEXT)
