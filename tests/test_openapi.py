"""The committed OpenAPI document is what the code produces."""

from pathlib import Path

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
