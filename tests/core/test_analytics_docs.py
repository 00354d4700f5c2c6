"""Every worked example in docs/analytics.md gives exactly the view it shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.history import analyse

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
EXAMPLE = re.compile(
    r"### (?P<title>.+?)\n.*?Entries:\n\n```json\n(?P<entries>.*?)```\n\nView:\n\n```json\n"
    r"(?P<view>.*?)```",
    re.S,
)
EXAMPLES = list(EXAMPLE.finditer(DOC.read_text()))


def test_the_document_has_an_example_of_every_alert_kind():
    shown = {a["type"] for m in EXAMPLES for a in json.loads(m["view"])["alerts"]}
    assert {
        "odometer_rollback",
        "implausible_rate",
        "title_brand_flood",
        "structural_damage",
        "fire_damage",
        "total_loss",
        "airbag_deployed",
        "recall_open",
        "service_gap",
    } <= shown


@pytest.mark.parametrize("example", EXAMPLES, ids=[m["title"] for m in EXAMPLES])
def test_worked_example(example):
    items = []
    for line in example["entries"].strip().splitlines():
        fields = json.loads(line)
        index, signer = fields.pop("index"), fields.pop("signer")
        items.append(
            {"index": index, "kind": fields["kind"], "signer": {"id": signer}, "record": fields}
        )
    view = analyse(items)
    for key, expected in json.loads(example["view"]).items():
        value = view
        for part in key.split("."):
            value = value[part]
        assert value == expected, key
