"""Real server processes on one data directory, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from core.vin import check_digit
from tests.conftest import vinledger


def vins(n: int) -> list[str]:
    out = []
    for i in range(n):
        vin = f"1HGCM8263{i % 10}A{i:06d}"
        out.append(vin[:8] + check_digit(vin) + vin[9:])
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def data_dir(request, tmp_path):
    data = tmp_path / "data"
    args = ["init"]
    if request.param == "postgres":
        from ledger.schema import Base
        from ledger.storage import Store

        url = request.getfixturevalue("pg_database")
        store = Store(url)
        Base.metadata.drop_all(store.write_engine)
        store.dispose()
        args += ["--database-url", url]
    vkey = vinledger(*args, data=data).stdout.strip().splitlines()[-1]
    return data, vkey
