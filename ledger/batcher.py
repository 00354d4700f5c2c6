"""Group commit: concurrent submissions share one sequencer transaction.

Request handlers hand their verified submissions to one thread. While that thread is
committing a batch, new submissions queue up; the next batch takes all of them (up
to ``max_batch``), so under load many requests cost one transaction and one
checkpoint signature. A submitter's future is resolved only after the commit.

Under load the thread also lingers a moment (``linger`` seconds, like PostgreSQL's
``commit_delay``) before it begins a batch, so that requests being parsed right now
join it instead of paying for a transaction of their own. It lingers only while the
batches it commits are shared by several submitters, and only until as many have
come as joined the last batch: a lone submitter never waits.

The thread never dies of a batch: a submission whose waiter was cancelled before the
thread took it is dropped (never appended); one taken already is committed and its
answer dropped (the same envelope sent again answers with its entry); anything a
commit raises fails only that batch's waiters. ``close`` commits what was queued before
it and answers later submissions with an error saying the ledger is closing.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

from core.errors import VinledgerError
from ledger.sequencer import Outcome, Sequencer, Submission

log = logging.getLogger("vinledger.sequencer")

_STOP = object()
_CLOSING = "the ledger is closing: nothing was appended; send it again once it is back"

_Waiter = tuple[list[Submission], Future]


class GroupCommit:
    def __init__(
        self,
        sequencer: Sequencer,
        *,
        max_batch: int = 1000,
        linger: float = 0.002,
        observe: Callable[[int, float], None] | None = None,
    ):
        self.sequencer = sequencer
        self.observe = observe  # (submissions, seconds) of each committed batch
        self.max_batch = max_batch
        self.linger = linger
        self.sizes: list[int] = []  # submitters per batch, the latest few (for tuning)
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()  # nothing is queued after the stop marker
        self._closed = False
        self._held: _Waiter | object | None = None  # taken off the queue, for the next batch
        self._thread = threading.Thread(target=self._run, name="vinledger-sequencer", daemon=True)
        self._thread.start()

    def submit(self, subs: list[Submission]) -> Future[list[Outcome]]:
        fut: Future[list[Outcome]] = Future()
        if not subs:
            fut.set_result([])
            return fut
        with self._lock:
            if not self._closed:
                self._queue.put((subs, fut))
                return fut
        fut.set_exception(RuntimeError(_CLOSING))
        return fut

    def close(self) -> None:
        """Commit what is queued, answer anything later with an error, stop the thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout=30)

    # ---- the worker thread -------------------------------------------------------

    def _run(self) -> None:
        last = 1  # submitters in the last batch: under steady load, about as many come
        while True:
            waiting: list[_Waiter] = []
            try:
                if self._gather(waiting, last) is _STOP:
                    break
                if waiting:
                    last = len(waiting)
                    self.sizes = [*self.sizes[-99:], last]
                    self._commit(waiting)
            except BaseException as err:  # never die: fail this batch, carry on
                log.exception("group commit of %d submitters failed", len(waiting))
                _fail(waiting, err)
        self._drain()

    def _next(self, timeout: float | None = None, *, block: bool = True):
        if self._held is not None:
            item, self._held = self._held, None
            return item
        return self._queue.get(block, timeout)

    def _gather(self, waiting: list[_Waiter], last: int) -> object:
        """Take the next batch into ``waiting``: at most ``max_batch`` submissions, unless
        one submitter's list alone is larger (it is never split). ``_STOP`` if stopping."""
        item = self._next()
        if item is _STOP:
            return _STOP
        count = 0
        if _take(item):
            waiting.append(item)
            count = len(item[0])
        until = time.monotonic() + (self.linger if last > 1 else 0.0)
        while count < self.max_batch:
            left = until - time.monotonic()
            try:
                if left > 0 and len(waiting) < last:
                    nxt = self._next(left)
                else:
                    nxt = self._next(block=False)
            except queue.Empty:
                break
            if nxt is _STOP or count + len(nxt[0]) > self.max_batch:
                self._held = nxt  # the next batch begins with it
                break
            if _take(nxt):
                waiting.append(nxt)
                count += len(nxt[0])
        return None

    def _commit(self, waiting: list[_Waiter]) -> None:
        subs = [s for batch, _ in waiting for s in batch]
        started = time.perf_counter()
        try:
            outcomes = self.sequencer.sequence(subs)
        except VinledgerError as err:  # nothing was committed: every waiter learns why
            _fail(waiting, err)
            return
        except BaseException as err:
            log.exception("sequencing %d submissions failed", len(subs))
            _fail(waiting, err)
            return
        if not isinstance(outcomes, list) or len(outcomes) != len(subs):
            got = len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__
            raise RuntimeError(
                f"the sequencer answered {got} for {len(subs)} submissions, not as many outcomes"
            )
        took = time.perf_counter() - started
        at = 0
        for batch, fut in waiting:
            _resolve(fut, outcomes[at : at + len(batch)])
            at += len(batch)
        if self.observe is not None:  # after the answers: a figure never costs one
            try:
                self.observe(len(subs), took)
            except Exception:
                log.exception("recording a batch's figures failed")

    def _drain(self) -> None:
        """After the stop marker: answer whatever is still queued (nothing, as ``submit``
        queues nothing once closed; a marker queued again by a second ``close`` at most)."""
        while True:
            try:
                item = self._next(block=False)
            except queue.Empty:
                return
            if item is not _STOP and _take(item):
                _fail([item], RuntimeError(_CLOSING))


def _take(item: _Waiter) -> bool:
    """Mark the waiter's future running, so that it can no longer be cancelled; False if
    it was cancelled already (its request is gone): the submission is dropped."""
    try:
        return item[1].set_running_or_notify_cancel()
    except RuntimeError:  # answered already: nothing to do
        return False


def _resolve(fut: Future, result) -> None:
    with contextlib.suppress(InvalidStateError):  # answered already
        fut.set_result(result)


def _fail(waiting: list[_Waiter], err: BaseException) -> None:
    for _, fut in waiting:
        with contextlib.suppress(InvalidStateError):  # answered already (the error came later)
            fut.set_exception(err)
