"""Everything a Chinese reader gets follows the page's language choice: the odometer
chart's tooltips, the listing badge, and ``?lang=zh_CN`` as locales spell it."""

from __future__ import annotations

import re

import pytest

from api.drawings import badge_svg, odometer_svg
from api.i18n import Words, choose_language
from tests.api.test_pages import ROLLBACK, seeded  # noqa: F401 (its fixture)
from tests.conftest import VIN


def _tooltips(svg: str) -> list[str]:
    return re.findall(r'class="reading"[^>]*><title>([^<]*)</title>', svg)


def test_the_charts_tooltips_are_in_the_pages_language_and_name_the_partner():
    readings = [
        {
            "index": 1,
            "kind": "inspection",
            "occurred_at": "2026-05-01T00:00:00Z",
            "km": 30_000,
            "signer": "huacheng-jiance",
        },
        {
            "index": 2,
            "kind": "maintenance",
            "occurred_at": "2026-06-01T00:00:00Z",
            "km": 31_000,
            "signer": "unnamed-shop",
        },
    ]
    names = {"huacheng-jiance": "华诚检测"}
    zh = _tooltips(odometer_svg(readings, set(), Words("zh"), names=names))
    assert zh[0] == "2026-05-01 · 30,000 公里 · 检测 · 华诚检测 (记录 1)"
    assert "km" not in " ".join(zh) and "huacheng-jiance" not in zh[0]
    assert "unnamed-shop" in zh[1]  # no name known: the ID, as written
    en = _tooltips(odometer_svg(readings, set(), Words("en"), names=names))
    assert en[0] == "2026-05-01 · 30,000 km · Inspection · 华诚检测 (entry 1)"


def test_the_page_chart_names_partners_as_the_timeline_does(client, seeded):  # noqa: F811
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    chart = re.search(r'<svg[^>]*class="odometer-chart".*?</svg>', zh, re.S).group(0)
    tips = _tooltips(chart)
    assert tips and all("公里" in tip and " km" not in tip for tip in tips), tips
    signers = set(re.findall(r"签名方：([^（<]*)（", zh))
    assert signers and all(any(name in tip for name in signers) for tip in tips), tips


def test_the_badge_speaks_chinese_when_asked():
    zh = badge_svg(True, 6, [ROLLBACK], VIN, Words("zh"))
    assert ">6 条记录 · 里程回调<" in zh
    assert "无记录" in badge_svg(True, 0, [], VIN, Words("zh"))
    assert "未通过验证" in badge_svg(False, 6, [], VIN, Words("zh"))
    flood = {"type": "title_brand_flood", "severity": "high", "message": "flood", "entries": [1]}
    assert "产权标记：水泡车" in badge_svg(True, 2, [flood], VIN, Words("zh"))
    # Wide enough for its Chinese: about 11 px a character, not a letter's 6.5.
    width = int(re.search(r'<rect x="70" width="(\d+)"', zh).group(1))
    assert width >= 11 * len("6 条记录 · 里程回调") - 20


@pytest.mark.parametrize(
    "query, header",
    [("zh", None), ("zh_CN", None), ("zh-CN", None), (None, "zh-CN,zh;q=0.9")],
)
def test_the_badge_follows_the_pages_language_choice(client, seeded, query, header):  # noqa: F811
    r = client.get(
        f"/vehicles/{VIN}/badge.svg",
        params={"lang": query} if query else {},
        headers={"Accept-Language": header} if header else {},
    )
    assert r.status_code == 200 and "条记录" in r.text, r.text
    assert r.headers["content-language"] == "zh" and "Accept-Language" in r.headers["vary"]
    english = client.get(f"/vehicles/{VIN}/badge.svg", headers={"Accept-Language": "en"})
    assert "4 entries · odometer rollback" in english.text


@pytest.mark.parametrize(
    "query, header, expected",
    [
        ("zh_CN", None, "zh"),
        ("zh_Hans_CN", "en", "zh"),
        ("ZH_cn", None, "zh"),
        ("en_US", "zh", "en"),
        (None, "zh_CN,en;q=0.5", "zh"),
    ],
)
def test_a_language_spelt_with_an_underscore_is_chosen(query, header, expected):
    assert choose_language(query, header) == expected


def test_the_page_takes_lang_zh_cn_with_an_underscore(client, seeded):  # noqa: F811
    r = client.get(f"/vehicles/{VIN}?lang=zh_CN")
    assert r.headers["content-language"] == "zh" and "时间线" in r.text
