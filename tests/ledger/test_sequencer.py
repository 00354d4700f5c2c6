"""The sequencer and storage, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import threading

import pytest

from core.errors import Forbidden, InvalidRecord, KeyRevoked, SignatureError, UnknownKey
from ledger import merkle
from ledger.audit import audit
from ledger.entry import decode_entry
from ledger.schema import EntryRow
from ledger.signing import open_checkpoint
from ledger.storage import log_size
from tests.conftest import VIN, VIN2, inspection, maintenance, onboard


def size_of(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def test_genesis_is_operator_and_its_key(ledger):
    assert size_of(ledger) == 2
    with ledger.store.reader() as s:
        kinds = [decode_entry(s.get(EntryRow, i).data).kind for i in (0, 1)]
    assert kinds == ["actor", "key_grant"]
    audit(ledger.store, ledger.vkey)


def test_append_answers_with_a_proof_that_verifies(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    (out,) = ledger.submit_now([inspector.envelope(inspection())])
    assert out.created and out.index == 4 and out.size == 5
    cp = open_checkpoint(out.checkpoint, ledger.vkey)
    assert cp.size == 5
    merkle.verify_inclusion(merkle.hash_leaf(out.entry), out.index, cp.size, out.proof, cp.root)
    entry = decode_entry(out.entry)
    assert (entry.vin, entry.vin_seq, entry.prev, entry.signer.actor_id) == (VIN, 0, None, "acme")


def test_same_envelope_twice_is_one_entry(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    env = inspector.envelope(inspection())
    first, again = ledger.submit_now([env]) + ledger.submit_now([env])
    assert (first.created, again.created) == (True, False)
    assert again.index == first.index and again.entry == first.entry
    # Within one batch too.
    a, b = ledger.submit_now([inspector.envelope(inspection(day=9))] * 2)
    assert a.index == b.index and (a.created, b.created) == (True, False)
    assert size_of(ledger) == 6


def test_vin_chain_links_each_entry_to_the_previous(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    shop = onboard(ledger, "quicklane", "workshop")
    outs = ledger.submit_now(
        [
            shop.envelope(maintenance()),
            inspector.envelope(inspection(vin=VIN2)),
            inspector.envelope(inspection()),
        ]
    )
    e0, other, e1 = (decode_entry(o.entry) for o in outs)
    assert (e0.vin_seq, e1.vin_seq, other.vin_seq) == (0, 1, 0)
    assert e1.prev == base64.b64encode(outs[0].leaf_hash).decode()
    assert other.prev is None


@pytest.mark.parametrize(
    "mutate, error",
    [
        ("unknown", UnknownKey),
        ("role", Forbidden),
        ("schema", InvalidRecord),
        ("signature", SignatureError),
    ],
)
def test_refused_submissions_change_nothing(ledger, mutate, error):
    inspector = onboard(ledger, "acme", "inspector")
    shop = onboard(ledger, "quicklane", "workshop")
    before = size_of(ledger)
    if mutate == "unknown":
        from core.keys import generate_private_key
        from tests.conftest import Partner

        raw = Partner("stranger", "inspector", generate_private_key()).envelope(inspection())
    elif mutate == "role":
        raw = shop.envelope(inspection())
    elif mutate == "schema":
        raw = inspector.envelope(inspection(colour="red"))
    else:
        import json

        env = json.loads(inspector.envelope(inspection()))
        payload = base64.b64decode(env["payload"]).replace(b"48210", b"18210")
        env["payload"] = base64.b64encode(payload).decode()
        raw = json.dumps(env).encode()
    (out,) = ledger.submit_now([raw])
    assert isinstance(out, error)
    assert size_of(ledger) == before


def test_revoked_key_is_refused_from_its_revocation_on(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    (ok,) = ledger.submit_now([inspector.envelope(inspection())])
    revocation = ledger.revoke_key(inspector.keyid, "laptop stolen")
    assert revocation.index > ok.index
    (out,) = ledger.submit_now([inspector.envelope(inspection(day=20))])
    assert isinstance(out, KeyRevoked)
    audit(ledger.store, ledger.vkey)


def test_dealer_records_only_its_own_sales(ledger):
    dealer = onboard(ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "dealer": "another-dealer",
    }
    (out,) = ledger.submit_now([dealer.envelope(sale)])
    assert isinstance(out, Forbidden)
    (ok,) = ledger.submit_now([dealer.envelope(sale | {"dealer": "bay-auto"})])
    assert ok.created


def test_correction_only_by_signer_or_operator(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    other = onboard(ledger, "other-inspector", "inspector")
    (orig,) = ledger.submit_now([inspector.envelope(inspection())])
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-05T09:00:00Z",
        "corrects": orig.index,
        "reason": "typo in km",
        "fields": {"odometer_km": 48120},
    }
    (refused,) = ledger.submit_now([other.envelope(fix)])
    assert isinstance(refused, Forbidden)
    (ok,) = ledger.submit_now([inspector.envelope(fix)])
    assert ok.created


def test_checkpoints_are_mutually_consistent(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    seen = []
    for day in range(1, 8):
        (out,) = ledger.submit_now([inspector.envelope(inspection(day=day, km=1000 * day))])
        seen.append(open_checkpoint(out.checkpoint, ledger.vkey))
    last = seen[-1]
    for cp in seen[:-1]:
        proof = ledger.reader.consistency(cp.size, last.size)
        merkle.verify_consistency(cp.size, last.size, proof, cp.root, last.root)
    audit(ledger.store, ledger.vkey)


def test_concurrent_submitters_get_one_consistent_log(ledger, tmp_path):
    """Several ledgers (as several API processes would) on one database, many threads."""
    from api.service import Ledger

    inspector = onboard(ledger, "acme", "inspector")
    base = size_of(ledger)
    others = [Ledger(ledger.settings) for _ in range(2)]
    envelopes = [inspector.envelope(inspection(km=10_000 + i, day=1 + i % 28)) for i in range(60)]
    results: list = []
    lock = threading.Lock()

    def worker(lg, chunk):
        import asyncio

        outs = asyncio.run(lg.submit(chunk))
        with lock:
            results.extend(outs)

    lgs = [ledger, *others]
    threads = [
        threading.Thread(target=worker, args=(lgs[i % 3], envelopes[i::6])) for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lg in others:
        lg.close()
    assert all(not isinstance(r, Exception) for r in results), results
    indexes = sorted(r.index for r in results)
    assert indexes == list(range(base, base + 60))  # no duplicate, no gap, none lost
    assert size_of(ledger) == base + 60
    result = audit(ledger.store, ledger.vkey)
    assert result.size == base + 60


def _submit_from_two_ledgers(ledger, envelopes) -> list:
    from api.service import Ledger

    other = Ledger(ledger.settings)
    results: list = []

    def worker(lg, chunk):
        import asyncio

        results.extend(asyncio.run(lg.submit(chunk)))

    threads = [
        threading.Thread(target=worker, args=([ledger, other][i % 2], envelopes[i::4]))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    return results


def test_postgresql_set_to_repeatable_read_still_takes_concurrent_appends(tmp_path):
    """A database whose default isolation is REPEATABLE READ (an operator's choice, or a
    managed service's) must not fail the sequencer that waited for the other process's
    lock: the ledger asks for READ COMMITTED on its own connections."""
    from tests.conftest import fresh_pg_database, make_ledger

    isolation = {"default_transaction_isolation": "repeatable read"}
    with fresh_pg_database("vinledger_rr", **isolation) as url:
        ledger = make_ledger(tmp_path / "data", url)
        inspector = onboard(ledger, "acme", "inspector")
        base = size_of(ledger)
        envelopes = [inspector.envelope(inspection(km=20_000 + i)) for i in range(40)]
        results = _submit_from_two_ledgers(ledger, envelopes)
        ledger.close()
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.index for r in results) == list(range(base, base + 40))


class _BrokenFollow:
    """A follow (as the claims plugin is) with a bug that one record triggers."""

    kinds = frozenset({"inspection"})
    name = "broken-claims"

    def __call__(self, s, sub, index, actor_id, logged_at):
        if sub.record.odometer_km == 13:
            raise ValueError("a bug")
        return []


def test_a_bug_in_follow_refuses_only_its_own_submission(ledger):
    from core.errors import PluginFailed
    from ledger.sequencer import Sequencer

    inspector = onboard(ledger, "acme", "inspector")
    subs = [
        ledger.check(inspector.envelope(inspection(vin=v, km=km)))
        for v, km in ((VIN, 100), (VIN2, 13), (VIN2, 200))
    ]
    before = size_of(ledger)
    first, broken, last = Sequencer(ledger.store, ledger.signer, _BrokenFollow()).sequence(subs)
    assert isinstance(broken, PluginFailed) and "broken-claims" in str(broken)
    assert broken.status == 500 and "nothing was appended" in str(broken)
    assert (first.index, last.index, last.size) == (before, before + 1, before + 2)
    assert size_of(ledger) == before + 2
    audit(ledger.store, ledger.vkey)


class _OutageInFollow(_BrokenFollow):
    """A follow whose write meets the database gone (as a lock_timeout would)."""

    def __call__(self, s, sub, index, actor_id, logged_at):
        from core.errors import StorageUnavailable

        if sub.record.odometer_km == 13:
            raise StorageUnavailable("the ledger's database is busy", state="busy")
        return []


def test_a_database_outage_in_one_submission_fails_the_whole_batch(ledger):
    """Not that submission's refusal: on PostgreSQL the transaction is aborted, and the
    rest of the batch cannot go on in it (it answered 500 with two tracebacks)."""
    from core.errors import StorageUnavailable
    from ledger.sequencer import Sequencer

    inspector = onboard(ledger, "acme", "inspector")
    subs = [
        ledger.check(inspector.envelope(inspection(vin=v, km=km)))
        for v, km in ((VIN, 100), (VIN2, 13), (VIN2, 200))
    ]
    before = size_of(ledger)
    with pytest.raises(StorageUnavailable):
        Sequencer(ledger.store, ledger.signer, _OutageInFollow()).sequence(subs)
    assert size_of(ledger) == before
    audit(ledger.store, ledger.vkey)
