"""Group commit: concurrent submissions share a batch; a lone submitter never waits."""

from __future__ import annotations

import threading
import time

from ledger.batcher import GroupCommit


class FakeSequencer:
    """Answers each submission with itself; can hold a batch until released."""

    def __init__(self):
        self.batches: list[list] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def sequence(self, subs):
        self.entered.set()
        self.hold.wait(10)
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
