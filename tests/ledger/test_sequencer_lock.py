"""Sequencers sharing one SQLite file queue on a file lock before they begin."""

from __future__ import annotations

import threading
import time

import pytest

from ledger.storage import Store


def test_a_second_sequencer_waits_until_the_first_releases(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    order: list[str] = []

    def second():
        with store.sequencer_lock():
            order.append("second")

    with store.sequencer_lock():
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.2)  # the second would be done by now if it did not wait
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]
    assert (tmp_path / "ledger.db-sequencer.lock").exists()


def test_the_lock_is_released_when_the_batch_fails(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(RuntimeError), store.sequencer_lock():
        raise RuntimeError("the batch failed")
    done = threading.Event()

    def again():
        with store.sequencer_lock():
            done.set()

    threading.Thread(target=again).start()
    assert done.wait(5)


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://postgres@127.0.0.1/x"])
def test_no_file_lock_without_a_file(url):
    store = Store(url)
    with store.sequencer_lock():  # nothing to open: in-memory SQLite, PostgreSQL
        pass
    assert store._lock_path is None
