"""The use cases of dealers and referrers: reputation figures, referral codes,
commissions and the API tokens that read them (private, beside the log).

A mixin of ``api.service.Ledger``: it uses the ledger's ``store``, ``plugins`` and
``settings``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import delete, select

from core import dsse
from core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    KeyRevoked,
    NotFound,
    Unauthorized,
    UnknownKey,
)
from core.keys import public_key_from_raw
from core.reputation import RANKING_RULE, dealer_figures, rank
from core.roles import article
from ledger.entry import decode_entry, record_bytes
from ledger.schema import ActorRow, EntryRow, KeyRow, ReferralRow, TokenRow
from ledger.storage import get_actor, log_size, signing_key, stored_utc
from plugins.commission_settling import settle_on_read
from plugins.commission_status import commissions
from plugins.currency import minor_units
from plugins.interfaces import Referral, zone
from plugins.referrals import (
    judge_referral,
    lock_market,
    read_market,
    read_request,
    store_referral,
    verify_referral_envelope,
)

REFERRAL_ATTEMPTS = 5

TOKEN_ROLES = frozenset({"dealer", "referrer"})  # who reads commissions with a token
log = logging.getLogger("vinledger.admin")


class DealersAndReferrals:
    # ---- dealer reputation ------------------------------------------------------------

    # The figures read every sale, claim and decision in the log: anyone may ask, so
    # they are computed once per log size, by one thread at a time; while one computes,
    # others get the figures of the last size computed (they say which).
    _figures: tuple[int, dict[str, Any]] | None = None
    _figures_lock: threading.Lock  # made by the ledger

    def _dealer_items(self, s, dealers: list[str], size: int) -> list[dict[str, Any]]:
        kinds = (
            "sale",
            "return_request",
            "warranty_claim",
            "claim_decision",
            "correction",
            "complaint",
            "dispute",  # a sale recorded again counts once
        )
        rows = s.scalars(
            select(EntryRow)
            .where(EntryRow.kind.in_(kinds) | EntryRow.actor_id.in_(dealers))
            .where(EntryRow.idx < size)
            .order_by(EntryRow.idx)
        )
        return [
            {
                "index": row.idx,
                "kind": row.kind,
                "signer": {"id": row.actor_id},
                "record": msgspec.json.decode(record_bytes(decode_entry(row.data))),
            }
            for row in rows
        ]

    def dealers(self) -> dict[str, Any]:
        """Every dealer's figures, ranked by the rule stated with them, as of the log
        size they name."""
        with self.store.reader() as s:
            size = log_size(s)
        known = self._figures
        if known is not None and known[0] == size:
            return known[1]
        if not self._figures_lock.acquire(blocking=known is None):
            return known[1]  # another request is computing the new figures
        try:
            if self._figures is not None and self._figures[0] == size:
                return self._figures[1]
            with self.store.reader() as s:
                size = log_size(s)  # the figures below are of this size, or a later one
                actors = {
                    a.actor_id: a.name
                    for a in s.scalars(select(ActorRow).where(ActorRow.role == "dealer"))
                }
                items = self._dealer_items(s, list(actors), size)
            figures = [{**dealer_figures(d, items), "name": name} for d, name in actors.items()]
            result = {"ranking_rule": RANKING_RULE, "size": size, "dealers": rank(figures)}
            self._figures = (size, result)
            return result
        finally:
            self._figures_lock.release()

    def dealer(self, dealer_id: str) -> dict[str, Any]:
        everyone = self.dealers()
        for figures in everyone["dealers"]:
            if figures["dealer"] == dealer_id:
                return {"ranking_rule": RANKING_RULE, "size": everyone["size"], **figures}
        raise NotFound(f"{dealer_id!r} is not a dealer of this ledger")

    # ---- referrals and commissions (private, beside the log) ----------------------

    def _signed_by(self, env: dsse.Envelope, s, *, lock: bool = False) -> str:
        """The actor whose granted, unrevoked key signed ``env``, read in ``s``.

        Not through the key cache: read again in the transaction that stores the
        referral (after its locks, ``lock_market``), where ``lock`` keeps the key's row
        FOR SHARE until it commits, so a key revoked before then is not taken: its
        revocation waits for the referral, or the referral reads it revoked (PostgreSQL;
        SQLite ignores FOR SHARE, its writers being one at a time).
        """
        dsse.check_signed_once(env)
        keyids = [sig.keyid for sig in env.signatures]
        if lock:
            s.execute(
                select(KeyRow.key_id).where(KeyRow.key_id.in_(keyids)).with_for_update(read=True)
            )
        key = signing_key(s.connection(), keyids)
        if key is None:
            raise UnknownKey("no signature is by a key granted on this ledger")
        if key.revoked_idx is not None:
            raise KeyRevoked(f"key {key.key_id} was revoked at log index {key.revoked_idx}")
        dsse.verify_envelope(env, public_key_from_raw(key.public_key))
        return key.actor_id

    def create_referral(self, raw: bytes) -> dict[str, Any]:
        """Store the referral in ``raw`` (a DSSE envelope its referrer signed).

        The rule's plugin code (``validate``, ``admit``) runs between two transactions,
        never inside one: the market it was judged against is read again in the
        transaction that stores the referral, and if a referral came or went there
        meanwhile (another referrer taking a slot or the code, a retry of this one
        storing it) it is read and judged again, up to ``REFERRAL_ATTEMPTS`` times: a
        code another referrer took is then refused as read, a retry answered with it.
        """
        env = verify_referral_envelope(raw)
        payload = dsse.payload_bytes(env)
        for _ in range(REFERRAL_ATTEMPTS):
            with self.store.reader() as s:
                actor_id = self._signed_by(env, s)  # before any plugin code
                req = read_request(payload)
                rule = self.plugins.rule(req.rule)
                seen = read_market(s, actor_id, req, rule.id)
            referral, created = judge_referral(self.plugins, rule, actor_id, req, seen)
            if not created:
                break
            try:
                with self.store.writing() as s:
                    lock_market(s, rule.id, req)  # first: what is read next is as of then
                    if self._signed_by(env, s, lock=True) != actor_id:
                        continue  # the key changed hands meanwhile: check it all again
                    if read_market(s, actor_id, req, rule.id, writing=True) != seen:
                        continue
                    store_referral(s, rule, referral)
                break
            except Conflict:
                continue  # taken meanwhile, by another (refused as read again) or by a retry
        else:
            raise Conflict(
                f"referral code {req.code!r}: the referrals of its rule, model and region "
                f"changed {REFERRAL_ATTEMPTS} times while its rule judged it; send it again"
            )
        return {
            "created": created,
            "code": referral.code,
            "referrer": referral.referrer,
            "upline": referral.upline,
            "rule": referral.rule,
            "rule_version": self._code_version(referral),
            "params": referral.params,
            "model": referral.model,
            "region": referral.region,
        }

    def _code_version(self, referral: Referral) -> str:
        """The rule version a code was made under, which computes its sales (a code
        from before codes kept it: the installed one)."""
        with self.store.reader() as s:
            row = s.get(ReferralRow, referral.code)
        held = row.rule_version if row is not None else None
        return held or self.plugins.rule(referral.rule).version

    def referral_terms(self, token: str, code: str | None = None) -> list[dict[str, Any]]:
        """The terms of referral codes, private like commissions: ``code``'s, for any
        dealer (a sale naming it pays by them: read them before recording it), its
        referrer and the operator; with no code, the codes ``token``'s referrer holds
        (the operator's token: every code). A code another referrer holds reads as
        unknown to a referrer."""
        actor_id = self.actor_for_token(token)
        with self.store.reader() as s:
            role = None if actor_id is None else get_actor(s, actor_id).role
            if code is None:
                if role == "dealer":
                    raise Forbidden(
                        "a dealer reads a referral code's terms by its code (GET "
                        "/referrals/CODE, the code the buyer gave); the list of codes is "
                        "their referrers'"
                    )
                query = select(ReferralRow).order_by(ReferralRow.created_at, ReferralRow.code)
                if actor_id is not None:
                    query = query.where(ReferralRow.referrer == actor_id)
                rows = list(s.scalars(query))
            else:
                row = s.get(ReferralRow, code)
                if row is None or (role == "referrer" and row.referrer != actor_id):
                    raise NotFound(
                        f"no referral code {code!r} on this ledger; a code is written as "
                        "its referrer made it (letters, digits, '-', case as given)"
                    )
                rows = [row]
            return [
                {
                    "code": r.code,
                    "referrer": r.referrer,
                    "upline": r.upline,
                    "rule": r.rule,
                    "rule_version": r.rule_version or self._installed_version(r.rule),
                    "params": msgspec.json.decode(r.params),
                    "model": r.model,
                    "region": r.region.strip().upper(),
                    "created_at": stored_utc(r.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for r in rows
            ]

    def _installed_version(self, rule_id: str) -> str | None:
        """A rule's installed version; None when its plugin is gone (its codes' sales
        are refused until it is back)."""
        rule = self.plugins.rules.get(rule_id)
        return None if rule is None else rule.version

    def issue_token(self, actor_id: str) -> str:
        """A new API token for ``actor_id``: shown once, stored only as its SHA-256."""
        token = secrets.token_urlsafe(32)
        with self.store.writing() as s:
            actor = get_actor(s, actor_id)
            if actor is None:
                raise NotFound(f"actor {actor_id!r} does not exist", field="actor_id")
            if actor.role not in TOKEN_ROLES:
                raise InvalidInput(
                    f"{actor_id!r} is {article(actor.role)} {actor.role}; API tokens are for "
                    "dealers and referrers, to read their own commissions",
                    field="actor_id",
                )
            s.add(
                TokenRow(
                    token_hash=hashlib.sha256(token.encode()).digest(),
                    actor_id=actor_id,
                    created_at=datetime.now(UTC),
                )
            )
        return token

    def revoke_tokens(self, actor_id: str) -> int:
        """Revoke every API token of ``actor_id`` (a lost laptop, a partner who left);
        how many there were. Issue a new one afterwards if the actor still needs it."""
        with self.store.writing() as s:
            if get_actor(s, actor_id) is None:
                raise NotFound(f"actor {actor_id!r} does not exist", field="actor_id")
            gone = s.execute(delete(TokenRow).where(TokenRow.actor_id == actor_id))
        return gone.rowcount

    def actor_for_token(self, token: str) -> str | None:
        """The actor a token belongs to; None for the operator's admin token.

        With admin.token missing or empty (removed under a running server) the
        operator's token opens nothing, but dealers' and referrers' tokens still do;
        that is logged once, not told to whoever sent a token.
        """
        if secrets.compare_digest(token.encode(), self._admin_token().encode()):
            return None
        with self.store.reader() as s:
            row = s.get(TokenRow, hashlib.sha256(token.encode()).digest())
        if row is None:
            raise Unauthorized("the bearer token is not known to this ledger")
        return row.actor_id

    _admin_token_missing = False  # logged, until admin.token is read again

    def _admin_token(self) -> str:
        """The admin token, or "" (which no bearer token matches) while it is missing."""
        try:
            token = self.settings.admin_token()
        except NotFound as err:
            if not self._admin_token_missing:
                self._admin_token_missing = True
                log.error("the operator's token reads no commissions: %s", err)
            return ""
        self._admin_token_missing = False
        return token

    def today(self) -> date:
        """Today where the ledger counts days (config.json's ``time_zone``), by its clock."""
        return self.clock().astimezone(zone(self.settings.time_zone)).date()

    def commissions(
        self,
        token: str,
        as_of: date | None = None,
        sold_from: date | None = None,
        sold_to: date | None = None,
    ) -> list[dict[str, Any]]:
        """The commissions ``token`` may read, as of the day ``as_of`` (default: today),
        of the sales sold from ``sold_from`` to ``sold_to`` (inclusive; None: no bound):
        days where the ledger counts them."""
        actor_id = self.actor_for_token(token)
        if sold_from is not None and sold_to is not None and sold_from > sold_to:
            raise InvalidInput(
                f"'from' ({sold_from}) is after 'to' ({sold_to}); give the first day of "
                "the sales first",
                field="from",
            )
        settle_on_read(self.store, self.plugins)  # its rules run in no transaction
        with self.store.reader() as s:
            if not self.store.is_sqlite:  # paid and pending rows as of one moment
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return commissions(
                s, self.plugins, as_of or self.today(), actor_id=actor_id, sold=(sold_from, sold_to)
            )


# What a commission of each status adds up to; "nothing to pay" and "pending" have no
# amount to add (rounded to nothing, or not computed yet).
TOTALLED = ("payable", "held", "disputed", "voided", "replaced")


def commission_totals(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The amounts of ``items`` added up per beneficiary and currency, by status, as
    decimal strings: exact, never rounded (each amount is in its currency's unit)."""
    sums: dict[tuple[str, str], dict[str, Decimal]] = {}
    for c in items:
        if c["amount"] is None:
            continue
        unit = Decimal(1).scaleb(-minor_units(c["currency"]))
        row = sums.setdefault(
            (c["beneficiary"], c["currency"]), dict.fromkeys(TOTALLED, Decimal(0).quantize(unit))
        )
        if c["status"] in row:
            row[c["status"]] += Decimal(c["amount"])
    return [
        {"beneficiary": who, "currency": currency, **{k: str(v) for k, v in row.items()}}
        for (who, currency), row in sorted(sums.items())
    ]
