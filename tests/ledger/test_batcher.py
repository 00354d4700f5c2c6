"""Group commit: concurrent submissions share a batch; a lone submitter never waits."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import wait

import pytest

from ledger import batcher
from ledger.batcher import GroupCommit


class FakeSequencer:
    """Answers each submission with itself; can hold a batch until released.

    ``broken``: what it does instead for a batch holding "boom" (raise, answer wrong)."""

    def __init__(self, broken=None):
        self.batches: list[list] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.broken = broken

    def sequence(self, subs):
        self.entered.set()
        self.hold.wait(10)
        if self.broken is not None and "boom" in subs:
            return self.broken(subs)
        self.batches.append(list(subs))
        return list(subs)


def test_submissions_queued_during_a_commit_share_the_next_batch():
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=0)
    try:
        seq.hold.clear()
        first = gc.submit(["a"])
        assert seq.entered.wait(5)
        rest = [gc.submit([x]) for x in "bcde"]
        seq.hold.set()
        assert first.result(5) == ["a"]
        assert [f.result(5) for f in rest] == [["b"], ["c"], ["d"], ["e"]]
        assert seq.batches == [["a"], ["b", "c", "d", "e"]]
    finally:
        gc.close()


def test_a_lone_submitter_does_not_linger():
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=30)  # would be obvious if it waited
    try:
        start = time.monotonic()
        for x in "abc":
            assert gc.submit([x]).result(5) == [x]
        assert time.monotonic() - start < 5
        assert gc.sizes == [1, 1, 1]
    finally:
        gc.close()


def _trickle_after_a_shared_batch(linger: float) -> list[list]:
    """Batches formed when five submitters shared the last batch, and five more then
    arrive 20 ms apart."""
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=linger)
    try:
        seq.hold.clear()
        gc.submit(["warm"])
        assert seq.entered.wait(5)
        queued = [gc.submit([x]) for x in "vwxyz"]  # the last batch: five submitters
        seq.hold.set()
        assert [f.result(5) for f in queued] == [[x] for x in "vwxyz"]
        trickled = []
        for x in "ABCDE":
            trickled.append(gc.submit([x]))
            time.sleep(0.02)
        assert [f.result(5) for f in trickled] == [[x] for x in "ABCDE"]
        return seq.batches[2:]
    finally:
        gc.close()


def test_under_load_it_lingers_until_as_many_came_as_last_time():
    assert _trickle_after_a_shared_batch(linger=2.0) == [list("ABCDE")]


def test_without_linger_a_trickle_is_committed_as_it_comes():
    assert len(_trickle_after_a_shared_batch(linger=0)) > 2  # it did not wait for fellows


def test_a_submission_cancelled_while_queued_is_not_appended_and_the_worker_goes_on():
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=0)
    try:
        seq.hold.clear()
        first = gc.submit(["a"])
        assert seq.entered.wait(5)
        gone = gc.submit(["b"])
        kept = gc.submit(["c"])
        assert gone.cancel()  # what asyncio does when the request awaiting it is cancelled
        seq.hold.set()
        assert first.result(1) == ["a"]
        assert kept.result(1) == ["c"]
        assert gc.submit(["d"]).result(1) == ["d"]
        assert seq.batches == [["a"], ["c"], ["d"]]
    finally:
        gc.close()


def test_a_request_cancelled_while_its_submission_is_committed_does_not_stop_the_worker():
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=0)

    async def request_cancelled_midway():  # a client gone, asyncio.wait_for, shutdown
        seq.hold.clear()
        answer = asyncio.wrap_future(gc.submit(["a"]))
        await asyncio.to_thread(seq.entered.wait, 5)
        answer.cancel()
        await asyncio.sleep(0)  # asyncio passes the cancellation on to the worker's future
        with pytest.raises(asyncio.CancelledError):
            await answer

    try:
        asyncio.run(request_cancelled_midway())
        seq.hold.set()
        assert gc.submit(["b"]).result(1) == ["b"]
        # Taken, so appended; its answer was dropped (the same envelope again answers).
        assert seq.batches == [["a"], ["b"]]
    finally:
        gc.close()


def test_an_error_while_sequencing_reaches_every_waiter_of_its_group_only(caplog):
    def fail(subs):
        raise ValueError("disk on fire")

    seq = FakeSequencer(broken=fail)
    gc = GroupCommit(seq, linger=0)
    try:
        seq.hold.clear()
        first = gc.submit(["a"])
        assert seq.entered.wait(5)
        gone = gc.submit(["x"])
        group = [gc.submit(["boom"]), gc.submit(["y"])]
        assert gone.cancel()
        with caplog.at_level(logging.ERROR):
            seq.hold.set()
            assert first.result(1) == ["a"]
            for fut in group:
                with pytest.raises(ValueError, match="disk on fire"):
                    fut.result(1)
        assert gc.submit(["b"]).result(1) == ["b"]
        assert seq.batches == [["a"], ["b"]]
        assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [group[0].exception()]
    finally:
        gc.close()


@pytest.mark.parametrize(
    "answer", [lambda subs: None, lambda subs: list(subs)[:-1]], ids=["none", "short"]
)
def test_a_wrong_answer_from_the_sequencer_fails_its_group_and_the_next_is_committed(answer):
    seq = FakeSequencer(broken=answer)
    gc = GroupCommit(seq, linger=0)
    try:
        seq.hold.clear()
        first = gc.submit(["a"])
        assert seq.entered.wait(5)
        group = [gc.submit(["boom"]), gc.submit(["y"])]
        seq.hold.set()
        assert first.result(1) == ["a"]
        for fut in group:
            with pytest.raises(RuntimeError, match="outcomes"):
                fut.result(1)
        assert gc.submit(["b"]).result(1) == ["b"]
        assert seq.batches == [["a"], ["b"]]
    finally:
        gc.close()


def test_close_answers_every_waiter():
    seq = FakeSequencer()
    gc = GroupCommit(seq, linger=0)
    stopping = threading.Event()
    put = gc._queue.put

    def put_and_tell(item, *args, **kwargs):
        put(item, *args, **kwargs)
        if item is batcher._STOP:
            stopping.set()

    gc._queue.put = put_and_tell
    seq.hold.clear()
    first = gc.submit(["a"])
    assert seq.entered.wait(5)
    before = gc.submit(["b"])  # queued before close: committed
    closer = threading.Thread(target=gc.close)
    closer.start()
    try:
        assert stopping.wait(5)
        during = gc.submit(["c"])  # while it closes
    finally:
        seq.hold.set()
        closer.join(5)
    after = gc.submit(["d"])  # once closed
    futs = [first, before, during, after]
    assert not wait(futs, timeout=1).not_done
    assert [first.result(), before.result()] == [["a"], ["b"]]
    for fut in (during, after):
        with pytest.raises(RuntimeError, match="closing"):
            fut.result()
    assert seq.batches == [["a"], ["b"]]


def test_a_batch_holds_at_most_max_batch_unless_one_submitter_sent_more():
    seq = FakeSequencer()
    gc = GroupCommit(seq, max_batch=3, linger=0)
    try:
        seq.hold.clear()
        gc.submit(["a"])
        assert seq.entered.wait(5)
        futs = [gc.submit(list(x)) for x in ("bc", "de", "f", "g", "hijkl", "m")]
        seq.hold.set()
        assert [f.result(1) for f in futs] == [
            list(x) for x in ("bc", "de", "f", "g", "hijkl", "m")
        ]
        assert seq.batches == [["a"], list("bc"), list("def"), list("g"), list("hijkl"), ["m"]]
    finally:
        gc.close()
