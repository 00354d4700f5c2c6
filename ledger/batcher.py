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
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from ledger.sequencer import Outcome, Sequencer, Submission

_STOP = object()


class GroupCommit:
    def __init__(self, sequencer: Sequencer, *, max_batch: int = 1000, linger: float = 0.002):
        self.sequencer = sequencer
        self.max_batch = max_batch
        self.linger = linger
        self.sizes: list[int] = []  # submitters per batch, the latest few (for tuning)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="vinledger-sequencer", daemon=True)
        self._thread.start()

    def submit(self, subs: list[Submission]) -> Future[list[Outcome]]:
        fut: Future[list[Outcome]] = Future()
        if not subs:
            fut.set_result([])
        else:
            self._queue.put((subs, fut))
        return fut

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        last = 1  # submitters in the last batch: under steady load, about as many come
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            waiting = [item]
            count = len(item[0])
            until = time.monotonic() + (self.linger if last > 1 else 0.0)
            while count < self.max_batch:
                left = until - time.monotonic()
                try:
                    if left > 0 and len(waiting) < last:
                        nxt = self._queue.get(timeout=left)
                    else:
                        nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)
                    break
                waiting.append(nxt)
                count += len(nxt[0])
            last = len(waiting)
            self.sizes = [*self.sizes[-99:], last]
            self._commit(waiting)

    def _commit(self, waiting) -> None:
        subs = [s for batch, _ in waiting for s in batch]
        try:
            outcomes = self.sequencer.sequence(subs)
        except BaseException as err:  # nothing was committed: every waiter learns why
            for _, fut in waiting:
                fut.set_exception(err)
            return
        at = 0
        for batch, fut in waiting:
            fut.set_result(outcomes[at : at + len(batch)])
            at += len(batch)
