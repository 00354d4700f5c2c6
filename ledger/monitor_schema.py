"""The tables of a monitor's state (its own SQLite file in its state directory) and
their version, which ``ledger.monitor.Monitor`` checks when it opens a state.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    edge BLOB NOT NULL  -- the compact range at ``size``: its hashes, concatenated
);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (
    vin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    leaf BLOB NOT NULL,
    PRIMARY KEY (vin, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revocations (key_id TEXT PRIMARY KEY, idx INTEGER NOT NULL);
-- Facts of vehicle entries, for what later ones reference. terms: a sale's stated
-- terms (JSON, as in the entry); sold_at: a sale's occurred_at; undoes: on an
-- approved return's decision, the sale it undid.
CREATE TABLE IF NOT EXISTS facts (
    idx INTEGER PRIMARY KEY,
    vin TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    terms BLOB,
    sold_at TEXT,
    undoes INTEGER,
    digest BLOB  -- dsse.envelope_digest by the signer: each signed record is logged once
);
CREATE TABLE IF NOT EXISTS trust (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    replay BLOB NOT NULL  -- msgpack: the genesis key, keys and actors as the log made them
);
CREATE TABLE IF NOT EXISTS trust_changes (  -- each trust entry, in words (monitor_entries)
    idx INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    actor TEXT,  -- made, granted the key, or whose key was revoked (NULL: not known)
    key_id TEXT,
    role TEXT,  -- of a new actor
    said TEXT NOT NULL
);
-- The first index whose trust changes this state knows: 0, or the size at which a state
-- made before trust changes were kept (version < 4) was first opened by a later monitor.
CREATE TABLE IF NOT EXISTS trust_known (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    since INTEGER NOT NULL
);
-- The leaf hashes of entry tile ``n`` as far as read (a partial tile's grows): what an
-- older checkpoint's root is computed from, and a level-0 hash tile is.
CREATE TABLE IF NOT EXISTS leaf_tiles (n INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
-- The first index whose leaf hash is kept: 0, or for a state made before they were
-- (version < 5) the start of the tile it had reached.
CREATE TABLE IF NOT EXISTS leaves_known (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    since INTEGER NOT NULL
);
-- Each alert, with the file in ``alerts/`` that keeps its evidence (the signed notes);
-- one not ``cleared`` (acknowledged) fails every poll.
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    said TEXT NOT NULL,
    evidence TEXT NOT NULL,
    cleared TEXT
);
-- Since when (UTC, ISO) the log has served checkpoints older than the monitor's.
CREATE TABLE IF NOT EXISTS stale (id INTEGER PRIMARY KEY CHECK (id = 1), since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (  -- a catch-up read up to ``size``, not yet proven
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    edge BLOB NOT NULL,
    replay BLOB  -- as trust.replay, at ``size``
);
-- What `vinledger monitor --watch-vin/--watch-actor` last asked to watch ("vin" or
-- "actor", and which): every poll into the state (`verify --monitor`'s too) keeps what
-- it reads of them. upto (a VIN's): the size below which its readings are all kept
-- (NULL: none yet; the next poll reads them from the entries it read before).
CREATE TABLE IF NOT EXISTS watching (
    what TEXT NOT NULL,
    id TEXT NOT NULL,
    upto INTEGER,
    PRIMARY KEY (what, id)
) WITHOUT ROWID;
-- The odometer readings of the watched VINs: what a lower one is compared with.
CREATE TABLE IF NOT EXISTS readings (
    vin TEXT NOT NULL,
    idx INTEGER NOT NULL,
    km INTEGER NOT NULL,
    PRIMARY KEY (vin, idx)
) WITHOUT ROWID;
-- Each watched entry read (monitor_entries.WatchedEntry), until `vinledger monitor`
-- reports it; below, below_km: the VIN's highest reading before, where this is lower.
CREATE TABLE IF NOT EXISTS watched (
    idx INTEGER PRIMARY KEY,
    vin TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    km INTEGER,
    below INTEGER,
    below_km INTEGER,
    detail TEXT NOT NULL  -- JSON: dealer, brand, or cause and severity
);
-- The size below which `vinledger monitor` has reported the watched entries.
CREATE TABLE IF NOT EXISTS watch_reported (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
"""


# Version 1: revocations are kept; 2: the trust replay (keys, actors) may be kept (a
# state read with signatures); 3: so are the facts references need. A version-0 state
# lacks revocations and is refused; a version-1 state is one read without signatures;
# a version-2 state read with signatures lacks facts and is refused; 4: trust changes
# are kept for the entries read (an unfinished catch-up of a state before 4 is read
# again, so that its trust changes are reported); 5: leaf hashes are kept (an unfinished
# catch-up of a state before 5 is read again; what it read before, below the start of
# its last tile, keeps none: ``leaves_known``), and alerts and staleness. The watch
# tables (watching, readings, watched, watch_reported) need no new version: a state
# without them gains them empty, and a VIN watched on it has its readings read again
# from the log (the entries its chain holds) at the next poll.
VERSION = 5
