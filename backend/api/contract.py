"""The OpenAPI document as the code behaves, not as Litestar guesses it.

Litestar derives most of the document from the handlers, but leaves out or gets wrong what
generated clients and contract testers depend on. `finish_document` corrects it from facts
read off the handlers themselves, so a new endpoint is described truthfully without anyone
remembering to:

- security: each guard states which callers it admits (`principals`, and `roles` for staff);
  an operation without an authenticating guard is public and gets no security requirement;
- payload schemas come from msgspec, the validator itself (Litestar's rendering drops falsy
  bounds such as `ge=0`); request bodies are closed (`additionalProperties: false`), as every
  Struct a body is decoded into refuses unknown fields (schemas.base.Base); answers stay open;
- integer bounds: Litestar writes `le=2**63 - 1` as the float 9.223372036854776e18, which is
  above int64 and not an integer; bounds of integers are written back as integers, in int64;
- optional bodies (`data: JSONBody[X | None] = None`) are not required;
- what handlers declare in `opt`: other media types of a response (`response_content`), the
  JSON parts of a multipart form (`form_json_parts`), how many of a repeated file part are
  taken (`form_max_items`) and the header a replay carries (`replay_header`).

tests/test_openapi.py walks the generated document and fails on any operation that breaks
these rules; tests/test_contract_fuzz.py sends schemathesis at the running API.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "staffToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A staff access token from LogIn or RefreshSession (Authorization: Bearer …).",
    },
    "citizenToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An anonymous citizen token from CreateDeviceSession (Authorization: Bearer …).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A one-stop-shop system's API key (cpk_<prefix>_<secret>), issued by an admin.",
    },
}
SCHEME_OF_PRINCIPAL = {"staff": "staffToken", "citizen": "citizenToken", "api_key": "apiKey"}

REPLAY_HEADER = {
    "description": "`true` when this answer replays the one stored for the same Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "enum": ["true"]},
}


@dataclass(frozen=True)
class Access:
    """Who may call an operation: nobody in particular (public), or these principals."""

    principals: tuple[str, ...] = ()
    roles: frozenset[str] = field(default_factory=frozenset)


def access_of(handler: HTTPRouteHandler) -> Access:
    principals: list[str] = []
    roles: set[str] = set()
    for guard in handler.resolve_guards():
        for principal in getattr(guard, "principals", ()):
            if principal not in principals:
                principals.append(principal)
        roles |= set(getattr(guard, "roles", ()))
    return Access(tuple(principals), frozenset(roles))


def http_handlers(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    """(path, handler) of every operation in the document."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.resolve_include_in_schema():
                yield route.path_format or "/", handler


def _unwrap(annotation: Any) -> Any:
    """The type a body is decoded into, without Annotated, SkipValidation or None."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def closed_structs(types: list[Any]) -> set[str]:
    """Names of the Structs, at any depth, of these body types that refuse unknown fields."""
    names: set[str] = set()
    seen: set[int] = set()

    def walk(info: msgspec.inspect.Type) -> None:
        if id(info) in seen:
            return
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                names.add(info.cls.__name__)
            for struct_field in info.fields:
                walk(struct_field.type)
            return
        for attribute in ("item_type", "key_type", "value_type", "type"):
            inner = getattr(info, attribute, None)
            if isinstance(inner, msgspec.inspect.Type):
                walk(inner)
        for inner in getattr(info, "types", ()) or getattr(info, "item_types", ()):
            walk(inner)

    structs = [t for t in types if isinstance(t, type) and issubclass(t, msgspec.Struct)]
    for info in msgspec.inspect.multi_type_info(structs):
        walk(info)
    return names


def body_type(handler: HTTPRouteHandler) -> Any | None:
    data = handler.parsed_fn_signature.parameters.get("data")
    return _unwrap(data.annotation) if data is not None else None


def body_is_optional(handler: HTTPRouteHandler) -> bool:
    data = handler.parsed_fn_signature.parameters.get("data")
    return data is not None and data.has_default


def integer_bounds(node: Any) -> None:
    """Integer bounds as integers within int64, wherever they are in the document."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                value = node.get(key)
                if isinstance(value, float) and not isinstance(value, bool):
                    node[key] = max(INT64_MIN, min(INT64_MAX, int(value)))
        for value in node.values():
            integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            integer_bounds(value)


def _payload_type(annotation: Any) -> Any:
    """What a handler sends or takes, without Response[...], Annotated or Optional."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Response:
        (annotation,) = typing.get_args(annotation)
    return _unwrap(annotation)


def payload_types(app: Litestar) -> list[Any]:
    """Every type a handler decodes a body into or encodes an answer from."""
    found: list[Any] = []
    for _, handler in http_handlers(app):
        signature = handler.parsed_fn_signature
        candidates = [signature.return_type.annotation]
        if "data" in signature.parameters:
            candidates.append(signature.parameters["data"].annotation)
        candidates += [spec.data_container for spec in (handler.responses or {}).values() if spec.data_container]
        candidates += list((handler.opt or {}).get("form_json_parts", {}).values())
        for candidate in candidates:
            payload = _payload_type(candidate)
            if payload not in found:
                found.append(payload)
    return found


def msgspec_components(types_: list[Any]) -> dict[str, Any]:
    """JSON Schemas of these types as msgspec, the validator, sees them. Litestar's own
    rendering drops falsy bounds (`ge=0`, `min_length=0`) and misses some constraints."""
    described = []
    for payload in types_:
        try:
            msgspec.json.schema_components([payload])
        except TypeError:  # not a msgspec payload (bytes, files, a form): Litestar's schema stays
            continue
        described.append(payload)
    (_, components) = msgspec.json.schema_components(described, ref_template="#/components/schemas/{name}")
    return components


def finish_document(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """Correct Litestar's document with what the handlers really do (see the module doc)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(msgspec_components(payload_types(app)))
    components["securitySchemes"] = SECURITY_SCHEMES
    by_id = {str(h.operation_id): h for _, h in http_handlers(app) if h.operation_id}

    body_types: list[Any] = []
    closed_forms: set[str] = set()
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            handler = by_id.get(operation.get("operationId", "")) if isinstance(operation, dict) else None
            if handler is None or method not in ("get", "post", "put", "patch", "delete"):
                continue
            access = access_of(handler)
            if access.principals:
                operation["security"] = [{SCHEME_OF_PRINCIPAL[p]: []} for p in access.principals]
            if access.roles:
                operation["x-roles"] = sorted(access.roles)
            body = body_type(handler)
            if body is not None:
                body_types.append(body)
            if "requestBody" in operation and body_is_optional(handler):
                operation["requestBody"]["required"] = False
            opt = handler.opt or {}
            for status, content in opt.get("response_content", {}).items():
                operation["responses"][str(status)].setdefault("content", {}).update(content)
            for status in opt.get("replay_header", ()):
                operation["responses"][str(status)].setdefault("headers", {})["Idempotent-Replayed"] = REPLAY_HEADER
            parts = opt.get("form_json_parts", {})
            if parts and "requestBody" in operation:
                body_types.extend(parts.values())
                form = operation["requestBody"]["content"]["multipart/form-data"]
                form["encoding"] = {name: {"contentType": "application/json"} for name in parts}
                ref = form["schema"]["$ref"].rsplit("/", 1)[-1]
                for name, part_type in parts.items():
                    schemas[ref]["properties"][name] = {"$ref": f"#/components/schemas/{part_type.__name__}"}
                # How many of a repeated file part are taken (Litestar drops the bound).
                for name, most in opt.get("form_max_items", {}).items():
                    schemas[ref]["properties"][name]["maxItems"] = most
                if opt.get("form_closed"):
                    closed_forms.add(ref)

    # Request bodies are closed: msgspec refuses unknown fields. Answers stay open, so that
    # adding a field to one later does not break generated clients (and problem documents
    # carry extension members, RFC 9457).
    closed = closed_structs(body_types) | closed_forms
    for name, schema in schemas.items():
        if not isinstance(schema, dict) or schema.get("type") != "object":
            continue
        if name in closed:
            schema["additionalProperties"] = False
        elif schema.get("additionalProperties") is False:
            del schema["additionalProperties"]
    integer_bounds(document)
    return document


class _FinishedOpenAPI(OpenAPI):
    """Litestar's OpenAPI object, whose dict form is passed through `finish` (no dataclass
    field, so Litestar's serialiser does not see it)."""

    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        return self.finish(schema) if self.finish else schema


class ContractOpenAPIConfig(OpenAPIConfig):
    """OpenAPIConfig whose document, served and exported alike, is corrected by
    finish_document once the app exists (see bind). The document is built lazily, on the
    first request for it, so binding after Litestar() is in time."""

    _app: Litestar | None = None  # not a dataclass field: Litestar may copy the config

    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        document = _FinishedOpenAPI(**{f.name: getattr(base, f.name) for f in fields(base)})
        app = self._app
        if app is not None:
            document.finish = lambda schema: finish_document(app, schema)
        return document

    def bind(self, app: Litestar) -> None:
        self._app = app
