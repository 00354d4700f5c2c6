"""What a correction withdrew or moved is said in the verdict at the top of the buyer's
page and on its badge, in every language (api.verdict, over core.corrections' alerts):
the verdict never reads "No problems reported" when a finding was withdrawn."""

from __future__ import annotations

import pytest

from api.drawings import badge_svg
from api.i18n import LANGUAGES, Words
from api.verdict import alert_text, headline
from core.history import analyse
from tests.core.test_correction_alerts import (
    CLEAN,
    claim,
    fix,
    inspection,
    item,
    of_type,
    readings_and_a_redated_low_one,
)

WITHDRAWN = [
    inspection(),
    fix(35, 34, {"flags": CLEAN, "grade": "A", "items": [{"code": "frame", "result": "ok"}]}),
]


def test_a_withdrawn_finding_is_a_problem_in_the_verdict_in_english():
    (line,) = headline(analyse(WITHDRAWN)["alerts"], Words("en"))
    assert line["severity"] == "high" and line["entries"] == [34, 35]
    assert line["text"] == (
        "What entry 34 reported was withdrawn by a correction (acme, entry 35): Accident "
        "damage; Flood damage; Structural damage; Grade: E (now A); frame: failed (now ok)"
    )


def test_a_withdrawn_finding_is_said_in_chinese():
    (line,) = headline(analyse(WITHDRAWN)["alerts"], Words("zh"))
    assert line["text"].startswith("记录 34 报告的内容已被更正撤回（acme，记录 35）：")
    assert "等级：E（现为A）" in line["text"] and "frame：不合格（现为正常）" in line["text"]


def test_a_softened_claim_is_said_with_its_words():
    view = analyse([claim(), fix(3, 1, {"cause": "other", "severity": "minor"}, signer="harbor")])
    (withdrawn,) = [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]
    assert alert_text(withdrawn, Words("en")).endswith(
        "Cause: flood (now other); Severity: severe (now minor)"
    )
    assert "出险原因：水淹（现为其他）" in alert_text(withdrawn, Words("zh"))


def test_a_moved_reading_says_from_which_day_to_which():
    history = readings_and_a_redated_low_one()
    moved = fix(42, 41, {"occurred_at": "2023-01-10T09:00:00Z"}, signer="q")
    (line,) = headline(analyse([*history, moved])["alerts"], Words("en"))
    assert line["text"] == (
        "The date of entry 41's odometer reading (30,000 km) was corrected: "
        "10 Aug 2025 → 10 Jan 2023; it hid a rollback from 90,000 km to 30,000 km"
    )
    # Moved past a reading logged that morning: the time of day is said too.
    morning = item(43, "odometer", "bay", "2025-08-10T08:00:00Z", odometer_km=29_990)
    morning["record"]["source"] = "dealer"
    same_day = fix(44, 41, {"occurred_at": "2025-08-10T07:15:00Z"}, signer="q")
    (alert,) = of_type(analyse([*history, morning, same_day]), "odometer_redated")
    assert alert_text(alert, Words("en")).endswith("10 Aug 2025 09:00 UTC → 10 Aug 2025 07:15 UTC")


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_badge_is_not_green_and_names_the_withdrawal(lang):
    svg = badge_svg(True, 2, analyse(WITHDRAWN)["alerts"], "1G1ZD5STXLF000002", Words(lang))
    assert Words(lang)("badge_no_alerts") not in svg
    assert {"en": "finding withdrawn", "zh": "发现已撤回"}[lang] in svg


def test_a_removed_reading_reads_as_removed_in_every_language():
    history = readings_and_a_redated_low_one()
    (alert,) = of_type(
        analyse([*history, fix(42, 39, {"odometer_km": None})]), "odometer_corrected"
    )
    assert alert_text(alert, Words("en")).endswith("60,000 km → removed")
    assert alert_text(alert, Words("zh")).endswith("60,000 公里 → 已删除")
