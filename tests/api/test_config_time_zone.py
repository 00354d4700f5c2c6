"""The ledger takes as its time zone only an IANA name that browsers know too (the
buyer's page counts days in it in the browser): not this machine's ``localtime`` or
``posixrules``, nor a zone file's copy under ``posix/`` or ``right/``."""

from __future__ import annotations

import json

import pytest

from api.config import create_data_dir, load_settings
from core.errors import InvalidInput
from tests.conftest import vinledger


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("localtime", '"Europe/Berlin"'),
        ("posixrules", '"Europe/Berlin"'),
        ("posix/Europe/Berlin", 'its IANA name, "Europe/Berlin"'),
        ("right/UTC", 'its IANA name, "UTC"'),
    ],
)
def test_a_zone_files_name_is_refused_saying_what_to_give(tmp_path, name, instead):
    with pytest.raises(InvalidInput) as err:
        create_data_dir(tmp_path / "d", origin="o", database_url=None, time_zone=name)
    said = str(err.value)
    assert said.startswith(f"the time zone {name!r} names a file of this machine's time zone")
    assert instead in said and "browsers" in said
    assert not (tmp_path / "d").exists() or not (tmp_path / "d" / "config.json").exists()


def test_nor_is_it_taken_from_config_json(tmp_path):
    settings = create_data_dir(tmp_path / "e", origin="o", database_url=None)
    config = settings.data_dir / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"time_zone": "localtime"}))
    with pytest.raises(InvalidInput, match=r"^config\.json's time_zone 'localtime' names a file"):
        load_settings(settings.data_dir)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "Asia/Shanghai", "America/Nuuk"])
def test_iana_names_are_taken(tmp_path, name):
    settings = create_data_dir(tmp_path / "z", origin="o", database_url=None, time_zone=name)
    assert load_settings(settings.data_dir).time_zone == name


def test_init_refuses_it_in_one_line(tmp_path):
    data = tmp_path / "data"
    run = vinledger("init", "--time-zone", "posix/Asia/Shanghai", data=data, check=False)
    assert run.returncode != 0
    assert 'give its IANA name, "Asia/Shanghai"' in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
