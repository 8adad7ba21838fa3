"""The OpenAPI schema and its Swagger page, built from the route table on first request."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, NotRequired, TypedDict

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ollama_openai_proxy import __version__
from ollama_openai_proxy.routes import ProxyRoute
from ollama_openai_proxy.routes.common import json_response

TITLE = "ollama-openai-proxy"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


class StringSchema(TypedDict):
    type: Literal["string"]


# "in" is a Python keyword: the functional form can name it.
PathParameter = TypedDict(
    "PathParameter", {"name": str, "in": Literal["path"], "required": bool, "schema": StringSchema}
)


class ResponseDoc(TypedDict):
    description: str


class Operation(TypedDict):
    summary: str
    operationId: str
    responses: dict[str, ResponseDoc]  # by status code
    parameters: NotRequired[list[PathParameter]]


class Info(TypedDict):
    title: str
    version: str
    description: str


class OpenAPI(TypedDict):
    """The OpenAPI 3.1 document: paths → method → operation."""

    openapi: str
    info: Info
    paths: dict[str, dict[str, Operation]]


def openapi(routes: Sequence[BaseRoute]) -> OpenAPI:
    """Paths, methods and path parameters of every documented route. Bodies are not declared:
    routes parse them by hand so every error has the dialect's own shape."""
    paths: dict[str, dict[str, Operation]] = {}
    for r in routes:
        if not isinstance(r, Route) or not r.include_in_schema:
            continue
        path = _PARAM.sub(r"{\1}", r.path)
        params: list[PathParameter] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(r.path)
        ]
        doc = (r.endpoint.__doc__ or r.name.replace("_", " ")).strip().splitlines()[0]
        for method in sorted((r.methods or set()) - {"HEAD"}):
            operation: Operation = {
                "summary": doc,
                "operationId": f"{r.name}_{method.lower()}",
                "responses": {"200": {"description": "Successful Response"}},
            }
            if params:
                operation["parameters"] = params
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": __version__,
            "description": "The Ollama HTTP API served from OpenAI-compatible backends.",
        },
        "paths": paths,
    }


async def openapi_json(request: Request) -> Response:
    return json_response(request.app.openapi())


async def docs(request: Request) -> Response:
    # FastAPI's Swagger page helper, imported only when someone opens the page.
    from fastapi.openapi.docs import get_swagger_ui_html

    page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{TITLE} - Swagger UI")
    return HTMLResponse(bytes(page.body))


ROUTES = [
    ProxyRoute("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False),
    ProxyRoute("/docs", docs, methods=["GET"], include_in_schema=False),
]
