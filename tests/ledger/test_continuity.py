"""A ledger signs nothing onto a fork: a database restored from an older backup, one
holding another tree at a published size, or one whose checkpoints another log key
signed is refused before anything is appended (ledger/continuity.py). On SQLite (the
online backup API) and PostgreSQL (a database copied from the live one as a template),
as an operator would back up and restore."""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from api.config import create_data_dir
from api.service import Ledger
from core.errors import ForkRisk
from ledger.checkpoint import Checkpoint
from ledger.continuity import MarkKeeper, check_continuity, mark_path, read_mark, record_mark
from ledger.storage import Store
from tests.conftest import PG_ADMIN_URL, fresh_pg_database, inspection, make_ledger, onboard


@pytest.fixture(params=["sqlite", "postgres"])
def live(request, tmp_path):
    """(a ledger, a function that backs up its database and returns the copy's URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        lg = make_ledger(tmp_path / "data", url)

        def backup() -> str:
            copy = tmp_path / f"backup-{uuid.uuid4().hex[:8]}.db"
            src = sqlite3.connect(tmp_path / "ledger.db")
            dst = sqlite3.connect(copy)
            src.backup(dst)  # consistent while the ledger runs, WAL included
            src.close()
            dst.close()
            return f"sqlite:///{copy}"

        yield lg, backup
        lg.close()
        return
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_pg_database("vinledger_live"))
        lg = make_ledger(tmp_path / "data", url)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        copies = []

        def backup() -> str:
            lg.store.dispose()  # a template database takes no other connections
            name = f"vinledger_backup_{uuid.uuid4().hex[:12]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"'))
            copies.append(name)
            return url.rsplit("/", 1)[0] + "/" + name

        yield lg, backup
        lg.close()
        with admin.connect() as c:
            for name in copies:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


READINGS = itertools.count(50_000)  # every record distinct: none is a replay


def submit(lg, partner, n: int) -> None:
    for _ in range(n):
        [outcome] = lg.submit_now([partner.envelope(inspection(km=next(READINGS)))])
        assert outcome.created, outcome


def restored(lg, url: str) -> Ledger:
    """The same data directory (keys, mark) over the database at ``url``."""
    settings = lg.settings
    settings = type(settings)(**{**vars(settings), "database_url": url})
    return Ledger(settings, Store(url))


def unchecked(lg, url: str) -> Ledger:
    """``restored``, by something that skipped the checks (an older release): its
    sequencer does not see the mark, so it signs onto whatever the database holds."""
    back = restored(lg, url)
    back.sequencer.watch_mark(lg.settings.data_dir / "no-mark-here", back.vkey)
    return back


def test_a_database_restored_from_before_published_checkpoints_is_refused(live):
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    submit(lg, acme, 2)
    old = backup()
    submit(lg, acme, 3)
    record_mark(lg.store, lg.vkey, mark)
    published = read_mark(mark, lg.vkey)
    back = restored(lg, old)
    try:
        with pytest.raises(ForkRisk) as err:
            check_continuity(back.store, back.vkey, mark)
        size = published.size - 3
        assert f"holds {size} entries" in str(err.value)
        assert f"checkpoint of {published.size}" in str(err.value)
        assert "3 published entries" in str(err.value)
    finally:
        back.close()


def test_a_restored_database_that_grew_another_tree_is_refused(live):
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    old = backup()
    submit(lg, acme, 3)
    record_mark(lg.store, lg.vkey, mark)
    published = read_mark(mark, lg.vkey)
    # The restored database, served anyway by something that skipped the check, takes
    # other records at the published indexes and grows past the mark.
    back = unchecked(lg, old)
    try:
        submit(back, acme, 5)
        with pytest.raises(ForkRisk, match=f"tree of {published.size} entries is not the one"):
            check_continuity(back.store, back.vkey, mark)
    finally:
        back.close()


def test_a_database_that_extends_the_mark_is_served_and_advances_it(live):
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    before = read_mark(mark, lg.vkey).size
    submit(lg, acme, 2)
    copy = backup()  # a backup taken now holds everything: restoring it is safe
    assert check_continuity(lg.store, lg.vkey, mark) is not None
    record_mark(lg.store, lg.vkey, mark)
    assert read_mark(mark, lg.vkey).size == before + 2
    back = restored(lg, copy)
    try:
        check_continuity(back.store, back.vkey, mark)
    finally:
        back.close()


def test_a_data_directory_of_another_log_is_refused(tmp_path, live):
    lg, _ = live
    other = create_data_dir(tmp_path / "other", origin=lg.settings.origin, database_url="x")
    stranger = Ledger(
        type(other)(**{**vars(other), "database_url": lg.settings.database_url}), lg.store
    )
    with pytest.raises(ForkRisk, match=r"signed by .* not by this data directory's log key"):
        check_continuity(stranger.store, stranger.vkey, mark_path(other.data_dir))
    # A mark another log key signed (another log's file copied in) is refused too.
    mark = mark_path(lg.settings.data_dir)
    mark.write_text(stranger.signer.sign(Checkpoint(lg.settings.origin, 3, bytes(32))))
    with pytest.raises(ForkRisk, match="this ledger's log key did not sign"):
        check_continuity(lg.store, lg.vkey, mark)


def test_a_running_server_keeps_the_mark_current(sqlite_ledger):
    lg = sqlite_ledger
    mark = mark_path(lg.settings.data_dir)
    keeper = MarkKeeper(lg.store, lg.vkey, mark, interval=0.05)
    start = read_mark(mark, lg.vkey).size
    keeper.start()
    try:
        onboard(lg, "acme", "inspector")
        deadline = time.monotonic() + 5
        while read_mark(mark, lg.vkey).size == start and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_mark(mark, lg.vkey).size == start + 2  # the actor and its grant
    finally:
        keeper.stop()


def test_a_database_swapped_under_a_running_server_never_becomes_the_mark(live):
    # A failover to a standby that lags, or a restore into the live database: the
    # server signs on, but the mark keeps what was published and /readyz says 503.
    from litestar.testing import TestClient

    from api.app import create_app

    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    old = backup()
    keeper = MarkKeeper(lg.store, lg.vkey, mark, interval=3600)
    submit(lg, acme, 3)
    keeper._record()
    published = mark.read_text()
    back = unchecked(lg, old)
    try:
        submit(back, acme, 5)  # past the mark's size, on another tree
        keeper.store = back.store
        keeper._record()
        assert mark.read_text() == published
        assert isinstance(keeper.problem, ForkRisk)
        app = create_app(back)
        app.state["keeper"] = keeper
        with TestClient(app) as client:
            r = client.get("/readyz")
            assert r.status_code == 503 and r.json()["type"].endswith("/fork-risk"), r.text
    finally:
        back.close()


def test_a_mark_that_cannot_be_read_or_is_damaged_says_so(sqlite_ledger):
    lg = sqlite_ledger
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    mark.write_text("")
    with pytest.raises(ForkRisk, match=r"is damaged .* Put back a copy of it"):
        check_continuity(lg.store, lg.vkey, mark)
    mark.unlink()
    mark.mkdir()
    with pytest.raises(ForkRisk, match=r"cannot read .* make the data directory readable"):
        check_continuity(lg.store, lg.vkey, mark)
    mark.rmdir()
    record_mark(lg.store, lg.vkey, mark)
    assert read_mark(mark, lg.vkey).size == 2
    assert not list(mark.parent.glob(".published-checkpoint.*"))  # no temporary left


def test_a_running_sequencer_signs_nothing_onto_a_database_behind_what_it_signed(live):
    # Restored or failed over under a running server: the very next batch is refused
    # (503 fork-risk, nothing appended), not two seconds later by the mark's keeper.
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    old = backup()
    submit(lg, acme, 3)
    back = restored(lg, old)
    try:
        size = size_of(back)
        lg.sequencer.store = back.store  # the database under the running server
        with pytest.raises(ForkRisk, match="restored or replaced while the server ran"):
            submit(lg, acme, 1)
        assert size_of(back) == size
        # Grown by another writer to the very size this server signed, another tree.
        other = restored(lg, old)
        submit(other, acme, 3)
        lg.sequencer.store = other.store
        with pytest.raises(ForkRisk, match="with another root"):
            submit(lg, acme, 1)
        other.close()
    finally:
        lg.sequencer.store = lg.store
        back.close()


def size_of(lg) -> int:
    from ledger.storage import log_size

    with lg.store.reader() as s:
        return log_size(s)


def test_a_restore_hidden_by_another_writer_is_still_refused(live):
    # Two workers on one database: after a restore, the worker that signed nothing
    # yet grows the log past what the other signed; the other must still see that the
    # tree no longer holds its checkpoint.
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    old = backup()
    submit(lg, acme, 3)
    worker = restored(lg, old)  # the second worker, on the restored database
    try:
        submit(worker, acme, 6)
        lg.sequencer.store = worker.store
        with pytest.raises(ForkRisk, match="its tree does not hold it"):
            submit(lg, acme, 1)
    finally:
        lg.sequencer.store = lg.store
        worker.close()


def test_another_writer_on_the_same_log_is_no_fork(live):
    lg, _ = live
    acme = onboard(lg, "acme", "inspector")
    submit(lg, acme, 2)
    worker = restored(lg, lg.settings.database_url)  # a second worker, same database
    try:
        submit(worker, acme, 3)
        submit(lg, acme, 1)  # grown by the other worker, on the same tree: signs on
        submit(worker, acme, 1)
        submit(lg, acme, 1)
    finally:
        worker.close()


def test_a_database_missing_a_node_of_the_published_tree_is_said_in_one_line(live):
    from sqlalchemy import text

    lg, _ = live
    acme = onboard(lg, "acme", "inspector")
    submit(lg, acme, 3)
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    submit(lg, acme, 1)  # the database is ahead of the mark: its tree is read
    from ledger import merkle

    level, n = merkle.subtree_coords(0, read_mark(mark, lg.vkey).size)[-1]
    with lg.store.writer.begin() as s:  # a node the published tree's root is made of
        s.execute(text("DELETE FROM nodes WHERE level = :l AND n = :n"), {"l": level, "n": n})
    with pytest.raises(ForkRisk, match=r"cannot be read from the database \(tree node"):
        check_continuity(lg.store, lg.vkey, mark)


def test_a_worker_that_signed_nothing_signs_nothing_onto_a_database_behind_the_mark(live):
    # Two servers on one database and data directory: one signs everything, the mark's
    # keeper records it; the database is restored from an older backup under both. The
    # one that signed nothing must not take the published indexes (it learns what was
    # published from the mark, not only from what it signed itself).
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    old = backup()
    idle = restored(lg, lg.settings.database_url)  # the second server, idle so far
    submit(lg, acme, 4)
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)  # the keeper's round
    back = restored(lg, old)
    try:
        size = size_of(back)
        idle.sequencer.store = back.store  # the database restored under it
        with pytest.raises(ForkRisk, match="restored or replaced while the server ran"):
            submit(idle, acme, 1)
        assert size_of(back) == size
        # The mark moving on (another server's keeper) is read again.
        idle.sequencer.store = idle.store
        submit(lg, acme, 2)
        record_mark(lg.store, lg.vkey, mark)
        submit(idle, acme, 1)  # the live database: it extends the new mark
        published = read_mark(mark, lg.vkey)
        assert idle.sequencer._signed[0] >= published.size
    finally:
        idle.sequencer.store = idle.store
        idle.close()
        back.close()


def test_a_fork_already_signed_onto_a_restored_database_is_said_as_such(live):
    # Something that skipped the checks (an older release) appended to a database
    # restored from before the mark: the advice not to sign on comes too late, and the
    # refusal says the log key has signed a fork.
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    old = backup()
    submit(lg, acme, 4)
    record_mark(lg.store, lg.vkey, mark)
    published = read_mark(mark, lg.vkey)
    back = restored(lg, old)
    try:
        with pytest.raises(ForkRisk) as err:  # restored, nothing signed on it yet
            check_continuity(back.store, back.vkey, mark)
        assert "Signing on would give" in str(err.value)
    finally:
        back.close()
    # The mark was written an hour ago: a checkpoint signed now is past any clock skew.
    hour_ago = time.time() - 3600
    os.utime(mark, (hour_ago, hour_ago))
    forked = unchecked(lg, old)
    try:
        submit(forked, acme, 1)
        with pytest.raises(ForkRisk) as err:
            check_continuity(forked.store, forked.vkey, mark)
        said = str(err.value)
        assert "has already signed a fork" in said, said
        assert f"after this ledger published one of {published.size}" in said
    finally:
        forked.close()


def test_a_standby_a_moment_behind_the_mark_is_behind_not_a_fork_already_signed(live):
    # Its latest checkpoint may read as signed a little after the mark was written when
    # the signing host's clock runs ahead of the file system's: within the skew allowed,
    # the database is only behind.
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    old = backup()
    submit(lg, acme, 2)
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    back = restored(lg, old)
    try:
        then = time.time() - 60  # the mark a minute older than the standby's checkpoint
        os.utime(mark, (then, then))
        with pytest.raises(ForkRisk) as err:
            check_continuity(back.store, back.vkey, mark)
        assert "Signing on would give" in str(err.value), str(err.value)
    finally:
        back.close()


def test_a_changed_mark_is_read_even_when_its_stat_is_the_same(live, monkeypatch):
    # On a file system with coarse times that reuses inodes, the mark rewritten twice
    # can have the size, time and inode the sequencer saw: it compares the bytes.
    lg, backup = live
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    idle = restored(lg, lg.settings.database_url)
    submit(idle, acme, 1)  # it has read the mark as it stood, and signed
    idle.store.dispose()  # (a PostgreSQL template takes no other connections)
    old = backup()  # what it signed, and no more
    back = restored(lg, old)
    try:
        before, stat = os.stat(mark), os.stat
        submit(lg, acme, 3)
        record_mark(lg.store, lg.vkey, mark)
        assert len(mark.read_bytes()) == before.st_size  # the same size, another mark
        # Its time and inode as before, as such a file system may give them.
        monkeypatch.setattr(
            os, "stat", lambda p, *a, **k: before if p == mark else stat(p, *a, **k)
        )
        idle.sequencer.store = back.store
        with pytest.raises(ForkRisk, match="restored or replaced while the server ran"):
            submit(idle, acme, 1)
    finally:
        idle.sequencer.store = idle.store
        idle.close()
        back.close()


def test_a_mark_that_cannot_be_read_while_serving_refuses_the_batch_in_one_line(
    sqlite_ledger, monkeypatch
):
    from pathlib import Path

    lg = sqlite_ledger
    acme = onboard(lg, "acme", "inspector")
    mark = mark_path(lg.settings.data_dir)
    record_mark(lg.store, lg.vkey, mark)
    real = Path.read_bytes

    def denied(self):
        if self == mark:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ForkRisk, match=r"cannot read .*Permission denied.*Nothing was appended"):
        submit(lg, acme, 1)
