"""The OpenAPI document describes what the API answers: RFC 9457 problems for errors,
a submission's statuses, the bundle as a JSON object, attachments as files."""

from __future__ import annotations

import json

from api.openapi import PROBLEM_JSON


def schema(client) -> dict:
    r = client.get("/schema/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_every_error_is_documented_as_a_problem(client):
    doc = schema(client)
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert "default" in responses, (method, path)
            for code, response in responses.items():
                if code == "default" or int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM_JSON], (method, path, code)
                    ref = response["content"][PROBLEM_JSON]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Problem"
    assert "status_code" not in json.dumps(doc)  # Litestar's own error shape, never sent


def test_a_submission_documents_what_it_answers(client):
    responses = schema(client)["paths"]["/records"]["post"]["responses"]
    assert {"200", "201", "400", "401", "403", "409", "413", "415", "422", "503"} <= set(responses)
    assert responses["200"]["content"] == responses["201"]["content"]  # the receipt, again
    batch = schema(client)["paths"]["/records/batch"]["post"]["responses"]["200"]
    item = batch["content"]["application/json"]["schema"]["properties"]["results"]["items"]
    receipt, problem = item["oneOf"]
    assert receipt["allOf"][0]["$ref"] == "#/components/schemas/Receipt"
    assert problem["allOf"][1]["properties"]["content_type"]["enum"] == [PROBLEM_JSON]


def test_the_bundle_is_an_object_and_an_attachment_a_file(client):
    paths = schema(client)["paths"]
    bundle = paths["/vehicles/{vin}/bundle"]["get"]["responses"]["200"]["content"]
    assert bundle["application/json"]["schema"]["type"] == "object"
    attachment = paths["/attachments/{sha256}"]["get"]["responses"]["200"]["content"]
    assert attachment == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }


def test_the_documentation_pages_show_the_same_document(client):
    assert client.get("/schema").status_code == 200
    swagger = client.get("/schema/swagger")  # embeds the document it shows
    assert swagger.status_code == 200 and PROBLEM_JSON in swagger.text
