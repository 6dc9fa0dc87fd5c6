"""The committed OpenAPI document is what the code produces."""

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backend.api.contract import closed_structs, integer_bounds
from backend.auth import STAFF_ROLES
from backend.cli import openapi_document, render_openapi

COMMITTED = Path(__file__).parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_code() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_openapi(), (
        "openapi/openapi.json is out of date: run `commune-pulse openapi` and commit the file"
    )


def test_every_operation_has_a_pascal_case_id_and_documents_problems() -> None:
    document = openapi_document()
    ids = []
    for path, item in document["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert operation.get("operationId", "")[:1].isupper(), (method, path)
                ids.append(operation["operationId"])
                errors = {k: v for k, v in operation["responses"].items() if int(k) >= 400}
                assert {"400", "500"} <= set(errors), (method, path)
                for status, response in errors.items():
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
    assert len(ids) == len(set(ids))


# Operations anyone may call. A new public operation must be added here on purpose: an
# endpoint that forgot its guard fails test_security_is_declared_for_every_guarded_operation.
PUBLIC_OPERATIONS = {
    "GetLiveness",
    "GetReadiness",
    "LogIn",
    "RefreshSession",
    "LogOut",
    "CreateDeviceSession",
    "ListProvinces",
    "GetProvince",
    "ListProvinceCommunes",
    "ListCommunes",
    "GetCommune",
    "ListCommuneServices",
    "GetCommuneService",
    "ListProcedures",
    "GetProcedure",
}
METHODS = ("get", "post", "put", "patch", "delete")
INT64_MAX = 2**63 - 1


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _open_objects(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Object schemas reachable from `schema` that do not refuse unknown properties."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _open_objects(document, _resolve(document, schema), f"{where}>{name}", seen)
    found = []
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        found.append(where)
    for key in ("oneOf", "anyOf", "allOf", "prefixItems"):
        for index, inner in enumerate(schema.get(key, [])):
            found += _open_objects(document, inner, f"{where}.{key}[{index}]", seen)
    for name, inner in schema.get("properties", {}).items():
        if not (isinstance(inner, dict) and inner.get("format") == "binary"):
            found += _open_objects(document, inner, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += _open_objects(document, schema["items"], f"{where}[]", seen)
    return found


def test_security_is_declared_for_every_guarded_operation() -> None:
    document = openapi_document()
    schemes = document["components"]["securitySchemes"]  # type: ignore[index]
    assert set(schemes) == {"staffToken", "citizenToken", "apiKey"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    public = set()
    for method, path, operation in _operations(document):  # type: ignore[arg-type]
        security = operation.get("security")
        if not security:
            public.add(operation["operationId"])
            continue
        assert "401" in operation["responses"] and "403" in operation["responses"], (method, path)
        assert all(len(req) == 1 and next(iter(req)) in schemes for req in security), (method, path)
        if security == [{"staffToken": []}]:
            assert operation["x-roles"] and set(operation["x-roles"]) <= STAFF_ROLES, (method, path)
        elif {"staffToken": []} not in security:
            assert "x-roles" not in operation, (method, path)
    assert public == PUBLIC_OPERATIONS


def test_every_request_body_is_closed_and_optional_bodies_are_not_required() -> None:
    document = openapi_document()
    for method, path, operation in _operations(document):  # type: ignore[arg-type]
        body = operation.get("requestBody")
        if body is None:
            continue
        for media_type, content in body["content"].items():
            open_objects = _open_objects(document, content["schema"], f"{method} {path} {media_type}", set())
            assert not open_objects, open_objects
            nullable = any(s.get("type") == "null" for s in content["schema"].get("oneOf", []))
            assert body["required"] is not nullable, (method, path)


def testinteger_bounds_are_integers_within_int64() -> None:
    bad: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if key in node and (kind == "integer" or (isinstance(kind, list) and "integer" in kind)):
                    value = node[key]
                    if not isinstance(value, int) or not -(2**63) <= value <= INT64_MAX:
                        bad.append(f"{where}.{key}={value!r}")
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(json.loads(render_openapi()), "")
    assert not bad, bad


def test_precondition_and_idempotency_headers_are_required_where_declared() -> None:
    declared = 0
    for method, path, operation in _operations(openapi_document()):  # type: ignore[arg-type]
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"].lower() in ("idempotency-key", "if-match"):
                declared += 1
                assert parameter["required"] is True, (method, path, parameter["name"])
                assert parameter["schema"].get("type") == "string" and "pattern" in parameter["schema"], (method, path)
    assert declared >= 15


def test_replays_csv_and_the_feedback_form_are_described() -> None:
    paths = openapi_document()["paths"]
    submit = paths["/v1/feedback"]["post"]  # type: ignore[index]
    assert "Idempotent-Replayed" in submit["responses"]["200"]["headers"]
    form = submit["requestBody"]["content"]["multipart/form-data"]
    assert form["encoding"]["feedback"]["contentType"] == "application/json"
    assert paths["/v1/me/devices"]["post"]["responses"].keys() >= {"200", "201"}  # type: ignore[index]
    assert paths["/v1/auth/device-sessions"]["post"]["responses"].keys() >= {"200", "201"}  # type: ignore[index]
    report = paths["/v1/front/reports/monthly"]["get"]["responses"]["200"]["content"]  # type: ignore[index]
    assert report["text/csv"]["schema"] == {"type": "string"}
    assert report["application/json"]["schema"] == {"$ref": "#/components/schemas/MonthlyReport"}


def test_every_success_answer_describes_its_content() -> None:
    """A generated client must know what it gets: no empty schema (a handler returning
    `Response[A] | Response[B]` rendered as `{}` and the CSV report crashed clients)."""
    for method, path, operation in _operations(openapi_document()):  # type: ignore[arg-type]
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                assert content.get("schema"), (method, path, status, media_type)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": 1.0, "maximum": 9.223372036854776e18}, {"minimum": 1, "maximum": INT64_MAX}),
        ({"type": "integer", "exclusiveMinimum": -9.3e18}, {"exclusiveMinimum": -(2**63)}),
        ({"type": ["integer", "null"], "maximum": 5.0}, {"maximum": 5}),
        ({"type": "number", "maximum": 5.5}, {"maximum": 5.5}),  # not an integer: untouched
        ({"type": "integer", "maximum": 200}, {"maximum": 200}),
    ],
)
def testinteger_bounds_rule(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    document = {"paths": {"/x": {"get": {"parameters": [{"schema": dict(schema)}]}}}}
    integer_bounds(document)
    fixed = document["paths"]["/x"]["get"]["parameters"][0]["schema"]  # type: ignore[index]
    for key, value in expected.items():
        assert fixed[key] == value and type(fixed[key]) is type(value), (key, fixed[key])


class _Inner(msgspec.Struct, forbid_unknown_fields=True):
    x: int


class _Open(msgspec.Struct):
    inner: list[_Inner]


class _Outer(msgspec.Struct, forbid_unknown_fields=True):
    open: _Open | None
    by_name: dict[str, _Inner]


def test_closed_structs_rule() -> None:
    # Closed at any depth, through lists, dicts and optionals; a struct that accepts unknown
    # fields is not declared closed.
    assert closed_structs([_Outer]) == {"_Outer", "_Inner"}
    assert closed_structs([_Open]) == {"_Inner"}
    assert closed_structs([bytes, dict]) == set()
