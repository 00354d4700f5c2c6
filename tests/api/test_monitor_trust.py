"""The monitor says what each poll's trust entries changed, in plain words, and marks
the changes of the actors a partner watches (`vinledger monitor --watch`).

A partner watching the log must see a key granted in its name, one of its keys
revoked, or an actor made under its id; "1 new entry (0 vehicles)" says none of it.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli_monitor import WATCHED_EXIT
from core.errors import InvalidInput
from core.keys import generate_private_key, key_id, public_key_pem
from ledger.monitor import Monitor
from tests.api.test_monitor import _long_log, failing_at, fetcher
from tests.conftest import onboard


def pem() -> bytes:
    return public_key_pem(generate_private_key().public_key())


def said(poll) -> list[str]:
    return [f"entry {c.index}: {c.said}" for c in poll.trust]


@pytest.mark.parametrize("signatures", [True, False], ids=["signatures", "no-signatures"])
def test_each_poll_says_who_was_made_granted_and_revoked(
    tmp_path, client, sqlite_ledger, signatures
):
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, signatures=signatures)
    first = m.poll(fetcher(client))
    op = sqlite_ledger.settings.operator_key().public_key()
    assert said(first) == [
        'entry 0: new actor operator (operator): "Ledger operator"',
        f"entry 1: key {key_id(op)} granted to operator (operator)",
    ]
    allianz = onboard(sqlite_ledger, "allianz", "insurer")  # entries 2 and 3
    sqlite_ledger.revoke_key(allianz.keyid, "lost laptop")  # 4
    [grant] = sqlite_ledger.add_actor("allianz", "Allianz", "insurer", pem())  # 5
    second = m.poll(fetcher(client))
    assert (second.new_entries, second.vehicles) == (4, 0)
    assert said(second)[:3] == [
        'entry 2: new actor allianz (insurer): "Allianz"',
        f"entry 3: key {allianz.keyid} granted to allianz (insurer)",
        f'entry 4: key {allianz.keyid} of allianz (insurer) revoked: "lost laptop"',
    ]
    assert said(second)[3].startswith(f"entry {grant.index}: key ")
    assert {c.actor for c in second.trust} == {"allianz"}
    assert m.poll(fetcher(client)).trust == []
    m.close()


def test_a_name_cannot_pass_for_a_line_of_the_monitors_own(tmp_path, client, sqlite_ledger):
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    m.poll(fetcher(client))
    sqlite_ledger.add_actor("mallory", "x\nWATCHED entry 9: key of allianz", "insurer", pem())
    [made, _] = m.poll(fetcher(client)).trust
    assert "\n" not in made.said and '"x\\nWATCHED entry 9' in made.said
    sqlite_ledger.add_actor("huacheng", "华诚检测 Huacheng\u202e", "inspector", pem())
    [named, _] = m.poll(fetcher(client)).trust
    assert '"华诚检测 Huacheng\\u202e"' in named.said  # readable, nothing disguised
    m.close()


def test_trust_changes_of_an_interrupted_catch_up_are_reported_once_it_is_proven(
    tmp_path, client, sqlite_ledger
):
    _long_log(client, sqlite_ledger)  # its partners were onboarded in its first tile
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput, match="connection reset"):
        m.poll(failing_at(fetcher(client), "002"))
    assert m.pending == 512
    poll = m.poll(fetcher(client))
    assert [(c.index, c.actor) for c in poll.trust] == [
        (0, "operator"),
        (1, "operator"),
        (2, "quicklane"),
        (3, "quicklane"),
        (4, "acme"),
        (5, "acme"),
    ]
    whole = Monitor(tmp_path / "whole", sqlite_ledger.vkey)
    assert poll.trust == whole.poll(fetcher(client)).trust
    m.close()
    whole.close()


def test_an_unfinished_catch_up_of_an_earlier_release_is_read_again(
    tmp_path, client, sqlite_ledger
):
    """An earlier release kept no trust changes: going on from its saved progress would
    report none for the entries before it (a key granted there never flagged)."""
    _long_log(client, sqlite_ledger)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput, match="connection reset"):
        m.poll(failing_at(fetcher(client), "002"))
    assert m.pending == 512
    m.db.execute("DELETE FROM trust_changes")  # as the earlier release left it
    m.db.execute("PRAGMA user_version = 3")
    m.close()
    again = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    assert again.pending is None
    assert [c.index for c in again.poll(fetcher(client)).trust] == [0, 1, 2, 3, 4, 5]
    again.close()


class _Served:
    """``VinledgerClient`` over the app's test client: the CLI's monitor reads it."""

    def __init__(self, client):
        self.client = client

    def get_bytes(self, path: str) -> bytes:
        from api.client import ClientError

        r = self.client.get(path)
        if r.status_code != 200:
            raise ClientError(r.status_code, {"detail": r.text})
        return r.content

    def close(self) -> None:
        pass


@pytest.fixture
def run_monitor(tmp_path, client, sqlite_ledger, monkeypatch):
    monkeypatch.setattr("api.client.VinledgerClient", lambda url: _Served(client))
    state = tmp_path / "state"

    def run(*args: str):
        argv = ["monitor", "http://ledger.test", "--vkey", sqlite_ledger.vkey]
        return CliRunner().invoke(main, [*argv, "--state", str(state), "--once", *args])

    return run


def test_monitor_lists_trust_changes_and_marks_a_watched_actors(run_monitor, sqlite_ledger):
    first = run_monitor("--watch", "allianz")
    assert first.exit_code == 0, first.output
    assert "  entry 0: new actor operator (operator)" in first.output
    allianz = onboard(sqlite_ledger, "allianz", "insurer")
    onboard(sqlite_ledger, "dmv", "registry")
    sqlite_ledger.revoke_key(allianz.keyid, "lost laptop")

    r = run_monitor("--watch", "allianz")
    assert r.exit_code == WATCHED_EXIT, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("checkpoint 7: 5 new entries (0 vehicles)")
    assert lines[1:3] == [
        'WATCHED entry 2: new actor allianz (insurer): "Allianz"',
        f"WATCHED entry 3: key {allianz.keyid} granted to allianz (insurer)",
    ]
    assert lines[3] == '  entry 4: new actor dmv (registry): "Dmv"'
    assert lines[4].startswith("  entry 5: key ") and lines[4].endswith("granted to dmv (registry)")
    assert lines[5] == (
        f'WATCHED entry 6: key {allianz.keyid} of allianz (insurer) revoked: "lost laptop"'
    )
    assert len(lines) == 6

    onboard(sqlite_ledger, "huk", "insurer")
    quiet = run_monitor("--watch", "allianz", "--watch", "axa")
    assert quiet.exit_code == 0, quiet.output
    assert "WATCHED" not in quiet.output and "granted to huk (insurer)" in quiet.output


def test_a_watched_id_that_is_no_actor_id_is_refused(run_monitor):
    r = run_monitor("--watch", "Allianz SE")
    assert r.exit_code == 2 and "--watch Allianz SE" in r.output and "actor id" in r.output


def test_without_watch_trust_changes_are_listed_and_the_exit_is_zero(run_monitor, sqlite_ledger):
    onboard(sqlite_ledger, "allianz", "insurer")
    r = run_monitor()
    assert r.exit_code == 0, r.output
    assert "  entry 3: key " in r.output and "WATCHED" not in r.output
    assert json.dumps("Allianz") in r.output


def test_a_revocation_whose_grant_an_earlier_monitor_kept_no_record_of_concerns_everyone(
    tmp_path, client, sqlite_ledger
):
    allianz = onboard(sqlite_ledger, "allianz", "insurer")
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, signatures=False)
    m.poll(fetcher(client))
    m.db.execute("DELETE FROM trust_changes")  # as a state kept before trust changes were
    sqlite_ledger.revoke_key(allianz.keyid, "lost laptop")
    [revoked] = m.poll(fetcher(client)).trust
    assert revoked.actor is None and "this monitor's state does not say" in revoked.said
    assert revoked.concerns(frozenset({"axa"}))  # a watcher looks at it: it may be its own
    m.close()


def test_a_state_an_earlier_monitor_read_says_what_it_cannot_report(
    tmp_path, run_monitor, sqlite_ledger
):
    """A state read before trust changes were kept (version 3) has none for what it
    read then: the monitor says so, and refuses to --watch on it rather than report
    "nothing" for a key granted back then."""
    first = run_monitor()
    assert first.exit_code == 0, first.output
    state = tmp_path / "state"
    m = Monitor(state, sqlite_ledger.vkey)
    m.db.execute("DELETE FROM trust_changes")  # as the earlier monitor left it
    m.db.execute("DELETE FROM trust_known")
    m.db.execute("PRAGMA user_version = 3")
    size = m.size
    m.close()
    onboard(sqlite_ledger, "allianz", "insurer")

    watched = run_monitor("--watch", "operator")
    assert watched.exit_code == 2, watched.output  # a mistake in the command
    assert f"read up to entry {size} by an earlier monitor" in watched.output
    assert "--watch could miss one" in watched.output and "Move it aside" in watched.output
    r = run_monitor()
    assert r.exit_code == 0, r.output
    assert f"warning: {state} was read up to entry {size}" in r.output
    assert "granted to allianz (insurer)" in r.output  # what it reads now, it reports
    assert Monitor(state, sqlite_ledger.vkey).trust_known_since == size
    # A state this release made from the start knows every trust change.
    fresh = Monitor(tmp_path / "fresh", sqlite_ledger.vkey)
    assert fresh.trust_known_since == 0
    fresh.close()
