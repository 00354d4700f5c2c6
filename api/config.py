"""The data directory: where a ledger keeps its database, keys and settings.

::

    vinledger-data/
      config.json     origin, database URL, disabled plugins, plugin timeout (0600)
      ledger.db       the SQLite database (unless config.json names another URL; a
                      relative SQLite path there is taken from this directory) (0600)
      published-checkpoint  the latest checkpoint the ledger published (continuity.py)
      log.key         the log's Ed25519 key, signs checkpoints       (mode 0600)
      operator.key    the operator's Ed25519 key, signs trust roots   (mode 0600)
      admin.token     bearer token for the admin API                  (mode 0600)

The directory is made readable by its owner only (0700) and so is everything ``init``
writes in it: besides the keys, the database holds what the log never publishes
(commissions, referral terms, token hashes) and config.json may hold the database's
password.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import InvalidInput, NotFound, VinledgerError
from core.keys import generate_private_key, load_private_key, private_key_to_pem
from plugins.registry import CALL_TIMEOUT_SECONDS

DEFAULT_DATA = "vinledger-data"
# What ``create_data_dir`` writes (the database may live elsewhere).
DATA_FILES = ("config.json", "log.key", "operator.key", "admin.token")
DEFAULT_ORIGIN = "vinledger.localhost/log"


def default_data_dir() -> Path:
    return Path(os.environ.get("VINLEDGER_DATA", DEFAULT_DATA))


@dataclass
class Settings:
    data_dir: Path
    origin: str
    database_url: str
    disabled_plugins: list[str] = field(default_factory=list)
    # How long a plugin call inside the sequencer (a claim's decision, a sale's
    # commissions) is waited for: every write on the ledger waits with it.
    plugin_timeout_seconds: float = CALL_TIMEOUT_SECONDS
    # The address buyers reach this ledger at, e.g. "https://ledger.example": links on
    # pages, stickers and QR codes use it rather than the request's Host header, which
    # any client can set (behind a proxy, set it).
    public_url: str | None = None
    # Where the ledger counts calendar days (an IANA time zone): the built-in policies'
    # "7 days" and "30 days", stated in each sale's terms, and the days pages show.
    time_zone: str = "UTC"

    @property
    def log_key_path(self) -> Path:
        return self.data_dir / "log.key"

    @property
    def operator_key_path(self) -> Path:
        return self.data_dir / "operator.key"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "admin.token"

    def log_key(self):
        return load_private_key(
            _secret(
                self.log_key_path,
                "the log signs every checkpoint with it. Put back your copy: a new key "
                "would be a new log, which every client must pin anew",
            )
        )

    def operator_key(self):
        return load_private_key(
            _secret(
                self.operator_key_path,
                "it signs grants, revocations and claim decisions. Put back your copy; if "
                "it is lost, put there an operator key the log granted earlier (README, "
                "'For operators')",
            )
        )

    def admin_token(self) -> str:
        """The admin API's bearer token, read afresh each time: a token written into
        admin.token (``vinledger admin-token``) replaces the old one at once, in
        running servers too. NotFound, in one line, if the file is missing or empty."""
        renew = f"write a new one with `vinledger admin-token --data {self.data_dir}`"
        token = _secret(self.token_path, f"it holds the admin API's bearer token; {renew}")
        token = token.decode("utf-8", "replace").strip()
        if not token:
            raise NotFound(
                f"{self.token_path} is empty, so no request could use the admin API; {renew}"
            )
        return token

    def check_database(self) -> None:
        """NotFound if the SQLite file the ledger names is missing: opening it would
        make an empty database and serve that (a relative path read from elsewhere)."""
        path = sqlite_path(self.database_url)
        if path is not None and not path.exists():
            raise NotFound(
                f"no database at {path}: check config.json's database_url (or "
                "$VINLEDGER_DATABASE_URL); a database is made only by `vinledger init`"
            )


def _secret(path: Path, why: str) -> bytes:
    """The bytes of a key file, or one line saying it is missing and why it matters."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path} is missing: {why}") from None
    except OSError as err:
        raise NotFound(f"cannot read {path} ({err.strerror}): {why}") from None


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, refusing to overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        raise NotFound(f"cannot create {path}: no directory {path.parent}") from None
    except FileExistsError:
        raise InvalidInput(f"{path} already exists; choose another file name") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def renew_admin_token(path: Path) -> None:
    """Replace the admin token at ``path`` with a new random one, whole (a temporary
    file of mode 0600, then a rename): the old token opens the admin API no more, in
    running servers too, which read the file on every admin request."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    write_secret(tmp, secrets.token_urlsafe(32).encode() + b"\n")
    os.replace(tmp, path)


# Where the database URL comes from when ``init`` took it from the environment: a URL
# with a password is then never written to disk.
FROM_ENVIRONMENT = "$VINLEDGER_DATABASE_URL"


def shown_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show none of it
        return "(a database URL that could not be read)"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


# config.json names the default database by its place in the data directory, so a
# copied or moved directory opens its own copy, never the database it was copied from.
OWN_DATABASE = "sqlite:///ledger.db"


def _database_in(data_dir: Path, url: str) -> str:
    """``url``, the data directory's own database (``OWN_DATABASE``) found in it. Any
    other URL means what it always did (a relative SQLite path: from the working
    directory, as releases before this one wrote it for ``init --database-url``)."""
    return sqlite_url(data_dir / "ledger.db") if url == OWN_DATABASE else url


def _as_given(url: str) -> str:
    """A relative SQLite path given to ``init`` means from where it was typed."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix) :].startswith(("/", ":memory:")):
        path, _, query = url[len(prefix) :].partition("?")
        return sqlite_url(Path.cwd() / path) + (f"?{query}" if query else "")
    return url


def create_data_dir(
    data_dir: Path, *, origin: str, database_url: str | None, time_zone: str = "UTC"
) -> Settings:
    """Make the data directory's keys, token and config; ``database_url`` None: the
    environment's ``VINLEDGER_DATABASE_URL`` if set (config.json then says so, and
    never holds it), else a SQLite file in the directory."""
    if not data_dir.exists():
        data_dir.mkdir(parents=True)
    if not any(data_dir.iterdir()):  # made here, or empty: the ledger's own directory
        data_dir.chmod(0o700)  # not by mkdir's mode, which the umask may loosen
    config = data_dir / "config.json"
    if config.exists() or (data_dir / "published-checkpoint").exists():
        raise InvalidInput(
            f"{data_dir} already holds a ledger; use another --data directory or remove it"
        )
    if database_url is None and os.environ.get("VINLEDGER_DATABASE_URL"):
        stored, url = FROM_ENVIRONMENT, os.environ["VINLEDGER_DATABASE_URL"]
    else:
        stored = _as_given(database_url) if database_url else OWN_DATABASE
        url = _database_in(data_dir, stored)
    _time_zone(time_zone, given="the time zone")
    settings = Settings(data_dir=data_dir, origin=origin, database_url=url, time_zone=time_zone)
    write_secret(settings.log_key_path, private_key_to_pem(generate_private_key()))
    write_secret(settings.operator_key_path, private_key_to_pem(generate_private_key()))
    write_secret(settings.token_path, secrets.token_urlsafe(32).encode() + b"\n")
    settings_json = {
        "origin": settings.origin,
        "database_url": stored,
        "disabled_plugins": [],
        "time_zone": time_zone,
    }
    write_secret(config, (json.dumps(settings_json, indent=2) + "\n").encode())
    if (path := sqlite_path(url)) is not None and not path.exists():
        write_secret(path, b"")  # SQLite makes its -wal and -shm files with this mode
    return settings


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or one in memory)."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///") :].partition("?")[0])
    return None


def loose_permissions(path: Path) -> str | None:
    """A warning if ``path`` exists and others than its owner may read it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"{path} may be read by other users of this machine (mode {mode:04o}); it holds "
            f"what the log never publishes: `chmod {'700' if path.is_dir() else '600'} {path}`"
        )
    return None


def load_settings(data_dir: Path | None = None) -> Settings:
    data_dir = data_dir or default_data_dir()
    config = data_dir / "config.json"
    if not config.exists():
        raise NotFound(
            f"no ledger in {data_dir}: run `vinledger init --data {data_dir}` first "
            "(or `vinledger demo`)"
        )
    raw = json.loads(config.read_text())
    url = os.environ.get("VINLEDGER_DATABASE_URL")
    if not url and raw["database_url"] == FROM_ENVIRONMENT:
        raise NotFound(
            f"the ledger in {data_dir} keeps its database URL out of config.json: set "
            "VINLEDGER_DATABASE_URL to it, as when it was made with `vinledger init`"
        )
    url = url or _database_in(data_dir, raw["database_url"])
    return Settings(
        data_dir=data_dir,
        origin=raw["origin"],
        database_url=url,
        disabled_plugins=list(raw.get("disabled_plugins", [])),
        plugin_timeout_seconds=_plugin_timeout(raw.get("plugin_timeout_seconds")),
        public_url=_public_url(os.environ.get("VINLEDGER_PUBLIC_URL", raw.get("public_url"))),
        time_zone=_time_zone(raw.get("time_zone", "UTC")),
    )


# Names of this machine's zone files that are no IANA zone a browser knows (the buyer's
# page counts days in the ledger's zone in the browser too): the machine's own setting,
# and the copies under posix/ and right/ (the latter counting leap seconds).
_NOT_IANA = frozenset({"localtime", "posixrules"})


def _time_zone(name: object, given: str = "config.json's time_zone") -> str:
    """``name``, if this machine knows it as an IANA time zone that browsers know too."""
    from zoneinfo import available_timezones

    from plugins.interfaces import zone

    examples = 'give one such as "UTC", "Asia/Shanghai" or "Europe/Berlin"'
    if isinstance(name, str) and (name in _NOT_IANA or name.startswith(("posix/", "right/"))):
        plain = name.split("/", 1)[1] if "/" in name else None
        instead = f'give its IANA name, "{plain}"' if plain else examples
        raise InvalidInput(
            f"{given} {name!r} names a file of this machine's time zone database, not an "
            f"IANA time zone (browsers, which check the buyer's page, do not know it): "
            f"{instead}"
        )
    try:
        zone(name)
        if name not in available_timezones():
            raise VinledgerError(f"{name!r} is not among the IANA zones")
    except VinledgerError:
        raise InvalidInput(
            f"{given} {name!r} is no IANA time zone known here: {examples}"
        ) from None
    return name


def _plugin_timeout(value: object) -> float:
    if value is None:
        return CALL_TIMEOUT_SECONDS
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise InvalidInput(
            f"plugin_timeout_seconds in config.json is {value!r}; write a number of seconds "
            f"from 0 to 300, such as {CALL_TIMEOUT_SECONDS:g} (the default), or leave it out",
            field="plugin_timeout_seconds",
        )
    return float(value)


def _public_url(text: str | None) -> str | None:
    if not text:
        return None
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.query
        or parts.fragment
        or parts.path.startswith("//")  # a link "//host/…" would leave for another host
    ):
        raise InvalidInput(
            f"public_url {text!r} is not an address buyers can open: write it as "
            '"https://ledger.example" (scheme and host, optionally a path)',
            field="public_url",
        )
    return text.rstrip("/")
