"""`GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the app's own router.

Every `/api/v1` route is in it, with its method, path parameters and access level (from
`@access`). What a route takes and answers beyond that is declared next to its handler with
`@doc(...)`: the success status when it is not 200, query parameters, body fields, and whether
it is a paged list or a text stream. The summary is the handler's docstring.
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from c66d import __version__
from c66d.web.access import access, required_access
from c66d.web.api import json_response

PREFIX = "/api/v1/"
_ATTR = "__c66d_doc__"
F = TypeVar("F", bound=Callable[..., object])
PAGE_QUERY = {"limit": "page size", "cursor": "the `next` value of the previous page"}


@dataclass(frozen=True)
class Doc:
    status: int = 200
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] = field(default_factory=dict)
    paged: bool = False
    text: bool = False  # answers text/plain (a log), streamed with ?follow=1
    events: bool = False  # answers text/event-stream (server-sent events)


def doc(*, status: int = 200, query: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None, paged: bool = False,
        text: bool = False, events: bool = False) -> Callable[[F], F]:
    """Describe a handler for the OpenAPI document: `@doc(status=201, body={"name": "string"})`.

    `body` maps each JSON field to its type (string, integer, number, boolean, object, array).
    """
    found = Doc(status, dict(query or {}), dict(body or {}), paged, text, events)

    def mark(handler: F) -> F:
        setattr(handler, _ATTR, found)
        return handler

    return mark


def doc_of(handler: object) -> Doc:
    found = getattr(handler, _ATTR, None)
    return found if isinstance(found, Doc) else Doc()


def _params(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _summary(handler: object) -> tuple[str, str]:
    text = inspect.getdoc(handler) or ""
    first, _, rest = text.partition("\n")
    name = getattr(handler, "__name__", "handler").replace("_", " ")
    return first.strip() or name, rest.strip()


_ERROR_REF = {"$ref": "#/components/responses/Error"}
_SECURITY: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}]


def _success(info: Doc) -> dict[str, Any]:
    if info.status == 204:
        return {"description": "done, no content"}
    if info.text:
        return {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    if info.events:
        return {"description": "server-sent events, one JSON object per `data:` line",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    schema: dict[str, Any] = {"$ref": "#/components/schemas/Page"} if info.paged \
        else {"type": "object"}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def operation(method: str, template: str, handler: object) -> dict[str, Any]:
    """One OpenAPI operation for a route."""
    declared = required_access(handler)
    info = doc_of(handler)
    summary, description = _summary(handler)
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in _params(template)]
    query = {**(PAGE_QUERY if info.paged else {}), **info.query}
    params += [{"name": n, "in": "query", "required": False, "description": text,
                "schema": {"type": "string"}} for n, text in query.items()]
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{getattr(handler, '__name__', 'handler')}",
        "summary": summary,
        "parameters": params,
        "responses": {str(info.status): _success(info), "default": _ERROR_REF},
        "x-c66d-access": declared.level if declared else None,
    }
    if description:
        op["description"] = description
    if declared is None or declared.level != "public":
        op["security"] = _SECURITY
    if info.body:
        props = {k: {"type": v} for k, v in info.body.items()}
        op["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": {"type": "object", "properties": props}}}}
    return op


def api_routes(app: web.Application) -> list[tuple[str, str, object]]:
    """(method, path template, handler) of every /api/v1 route; HEAD twins of GETs left out."""
    found: list[tuple[str, str, object]] = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        template = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", resource.canonical)
        if template.startswith(PREFIX):
            found.append((route.method, template, route.handler))
    return found


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, template, handler in api_routes(app):
        paths.setdefault(template, {})[method.lower()] = operation(method, template, handler)
    return {
        "openapi": "3.1.0",
        "info": {"title": "c66d", "version": __version__,
                 "description": "Self-hosted Docker in production: the JSON API."},
        "paths": dict(sorted(paths.items())),
        "components": _COMPONENTS,
    }


_COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                        "bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
        "Page": {"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": {"type": "object"}},
            "next": {"type": ["string", "null"],
                     "description": "pass as ?cursor= for the next page; null at the end"}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "detail": {}}}}},
    },
    "responses": {"Error": {"description": "an error, in the one envelope", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
}


@access("public")
async def openapi_json(request: web.Request) -> web.Response:
    """This document."""
    return json_response(build_document(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json, name="api.openapi")
