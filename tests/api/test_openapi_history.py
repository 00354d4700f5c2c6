"""The OpenAPI document describes the history's times and what its answer carries."""

from __future__ import annotations

import re

from tests.api.test_openapi import schema


def test_as_of_and_logged_by_are_utc_date_times(client):
    op = schema(client)["paths"]["/vehicles/{vin}/history"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    for name in ("as_of", "logged_by"):
        given = params[name]["schema"]
        assert given["type"] == "string" and given["format"] == "date-time", given
        pattern = re.compile(given["pattern"])
        assert pattern.search("2026-11-27T00:00:00Z")
        assert pattern.search("2026-11-27T00:00:00.123456Z")
        assert not pattern.search("2026-11-27T00:00:00+00:00")
        assert params[name]["required"] is False
    assert "signed with" in params["as_of"]["description"]
    assert "sequenced_at" in params["logged_by"]["description"]


def test_the_answer_describes_in_force_and_the_view_times(client):
    op = schema(client)["paths"]["/vehicles/{vin}/history"]["get"]
    answer = op["responses"]["200"]["content"]["application/json"]["schema"]
    entry = answer["properties"]["entries"]["items"]["properties"]
    in_force = entry["in_force"]
    assert in_force["type"] == "object" and "correction" in in_force["description"]
    assert entry["sequenced_at"]["format"] == "date-time"
    view = answer["properties"]["view"]["properties"]
    for name in ("as_of", "logged_by"):
        assert view[name]["type"] == ["string", "null"] and view[name]["format"] == "date-time"
