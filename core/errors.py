"""One hierarchy for every error vinledger reports.

Each error carries an HTTP status and a short title so the API can turn it into an
RFC 9457 problem document without a lookup table; the message itself always says
what was wrong and what to do about it.
"""

from __future__ import annotations


class VinledgerError(Exception):
    """Base class. ``str(err)`` is the human-readable detail."""

    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, index: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.index = index


# ---- input ------------------------------------------------------------------


class InvalidInput(VinledgerError):
    status = 400
    title = "Invalid input"
    slug = "invalid-input"


class InvalidVIN(InvalidInput):
    status = 422
    title = "Invalid VIN"
    slug = "invalid-vin"


class InvalidRecord(InvalidInput):
    status = 422
    title = "Invalid record"
    slug = "invalid-record"


class InvalidEnvelope(InvalidInput):
    status = 400
    title = "Invalid DSSE envelope"
    slug = "invalid-envelope"


class InvalidKey(InvalidInput):
    title = "Invalid key"
    slug = "invalid-key"


class InvalidNote(InvalidInput):
    title = "Invalid signed note"
    slug = "invalid-note"


class TooLarge(VinledgerError):
    status = 413
    title = "Too large"
    slug = "too-large"


class UnsupportedMediaType(InvalidInput):
    """A body sent as something other than JSON (curl --data sends a form, say)."""

    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


# ---- trust ------------------------------------------------------------------


class SignatureError(VinledgerError):
    status = 401
    title = "Bad signature"
    slug = "bad-signature"


class UnknownKey(VinledgerError):
    status = 403
    title = "Unknown key"
    slug = "unknown-key"


class KeyRevoked(VinledgerError):
    status = 403
    title = "Key revoked"
    slug = "key-revoked"


class Forbidden(VinledgerError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class Unauthorized(VinledgerError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


# ---- state ------------------------------------------------------------------


class NotFound(VinledgerError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(VinledgerError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class StorageUnavailable(VinledgerError):
    """The database cannot serve now: unreachable, its connection lost, out of disk
    space, or a lock held past the timeout. Nothing is wrong with the request; the same
    one may succeed in a moment (``retry_after`` seconds). ``cause`` is the database's
    own first line, for the operator's log; ``database`` its URL without the password."""

    status = 503
    title = "Storage unavailable"
    slug = "storage-unavailable"

    def __init__(
        self,
        detail: str,
        *,
        state: str = "",
        cause: str = "",
        database: str = "",
        retry_after: int = 5,
    ):
        super().__init__(detail)
        self.state = state
        self.cause = cause
        self.database = database
        self.retry_after = retry_after


class Busy(VinledgerError):
    """The server is at its limit of work of this sort held at once; nothing was read
    or appended, and the same request may succeed in ``retry_after`` seconds."""

    status = 503
    title = "Busy"
    slug = "busy"

    def __init__(self, detail: str, *, retry_after: int = 5):
        super().__init__(detail)
        self.retry_after = retry_after


class TooSlow(VinledgerError):
    """The request's body did not arrive in time; nothing of it was appended."""

    status = 408
    title = "Request timeout"
    slug = "request-timeout"


class NewerRelease(VinledgerError):
    """A newer vinledger release has opened this database: this older one must not
    write to it, since it could append what the newer release's checkers refuse, and
    an append-only log cannot take that back. The operator upgrades this process."""

    status = 503
    title = "Older release"
    slug = "older-release"


class ForkRisk(VinledgerError):
    """This data directory and this database do not make one log that only grows: the
    database is behind (or off) a checkpoint the ledger has published, or its
    checkpoints are signed by another log key. Signing on would fork a published log,
    which monitors detect and which voids receipts partners hold; the operator decides."""

    status = 503
    title = "The log would fork"
    slug = "fork-risk"


# ---- verification -----------------------------------------------------------


class VerificationError(VinledgerError):
    """A proof, a signature or a chain did not check. Raised by verifiers, never ignored."""

    status = 422
    title = "Verification failed"
    slug = "verification-failed"


class ProofError(VerificationError):
    title = "Proof does not verify"
    slug = "bad-proof"


class AuditError(VerificationError):
    title = "Audit failed"
    slug = "audit-failed"


# ---- plugins ----------------------------------------------------------------


class PolicyUnavailable(VinledgerError):
    """A sale states a policy no plugin on this ledger provides now (disabled or
    uninstalled since): its claims cannot be decided until it is back."""

    status = 503
    title = "Policy unavailable"
    slug = "policy-unavailable"


class PluginFailed(VinledgerError):
    """A plugin raised where it should have answered; nothing was appended."""

    status = 500
    title = "Plugin failed"
    slug = "plugin-failed"

    def __init__(self, plugin: str, detail: str):
        super().__init__(
            f"plugin {plugin!r} failed: {detail}; nothing was appended. Tell the ledger's "
            f'operator, who can disable it (config.json: "disabled_plugins": ["{plugin}"], '
            "then restart); that also withdraws everything else it registers",
            field=None,
        )
        self.plugin = plugin


class PluginTimedOut(VinledgerError):
    """A plugin call inside the sequencer did not answer in time: what it was asked
    for is refused, nothing is appended, and the same request may succeed later."""

    status = 503
    title = "Plugin timed out"
    slug = "plugin-timeout"

    def __init__(self, plugin: str, seconds: float, what: str, busy: int = 0):
        said = (
            f"plugin {plugin!r} was not called ({what}): {busy} earlier calls it did not "
            "answer in time still run, so nothing was appended"
            if busy
            else f"plugin {plugin!r} did not answer within {seconds:g} seconds ({what}), so "
            "nothing was appended and the ledger went on without it"
        )
        super().__init__(
            f"{said}. The same request may be sent again later (a claim: within 72 hours "
            "of its date); if this keeps happening, tell the ledger's operator"
        )
        self.plugin = plugin
        self.seconds = seconds
        self.retry_after = 30  # seconds: a plugin that hung is not back in a moment
