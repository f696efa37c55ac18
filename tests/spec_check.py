"""Check HTTP exchanges against the official API descriptions.

What is checked against is ``tests/api_schemas/<api>.json``: the operations the simulators
serve, derived from the official descriptions (docs/api-facts.md, "The official
descriptions and the tests' subset") by ``bin/derive-schemas`` and committed, so the tests
read nothing outside the repository
(``tests/test_api_schemas.py`` fails when the committed files drift from what the
descriptions give). Every request a client sends and every response a simulator returns in
the test suite goes through :class:`SpecChecker` (the ``spec_hooks`` fixture attaches it to
httpx clients as event hooks).

Decisions, written down once:

* **Teamleader nullability.** The description (OpenAPI 3.0) declares many fields without
  ``nullable: true``, while Teamleader's own conventions say an empty scalar comes back as
  ``null`` and an empty list as ``[]``. Responses are therefore checked with every
  non-array property allowed to be ``null``; arrays, required keys, types, enums and
  shapes stay strict. Requests are checked strictly: Koppel never sends ``null`` where the
  description does not allow it.
* **Error bodies.** The Teamleader description has no error responses at all; an error is
  checked against the documented ``{"errors": [{"title", "code"?, "status"?, "meta"?}]}``
  (docs/api-facts.md, Teamleader). Visma documents 400 as ``CommonExtendedBadRequest``; other
  error statuses (401, 404, 429, 5xx) are checked against that same shape, which is what
  Visma's error-code page shows for them.
* **Formats** (``uuid``, ``date-time``) are not asserted: Visma documents dates as
  ``YYYY-MM-DD`` under ``format: date-time`` and returns them without an offset.
* OAuth endpoints and the simulators' ``/_sandbox/`` controls are not in either description
  and are not checked here; their own tests assert their bodies.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

#: The derived descriptions, ``<api>.json`` (written by ``bin/derive-schemas``).
API_SCHEMAS_DIR = Path(__file__).resolve().parent / "api_schemas"

TEAMLEADER_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string"},
                    "code": {"type": ["integer", "string"]},
                    "status": {"type": "integer"},
                    "meta": {"type": "object"},
                },
            },
        }
    },
}


def oas30_to_jsonschema(schema: Any, *, relax_nullable: bool) -> Any:
    """Rewrite an OpenAPI 3.0 schema as JSON Schema 2020-12.

    ``nullable: true`` becomes ``anyOf [null, …]`` (which also covers ``allOf`` siblings,
    where OpenAPI 3.0 validators disagree). With ``relax_nullable`` every non-array
    property may be ``null`` (the Teamleader convention above)."""
    if isinstance(schema, list):
        return [oas30_to_jsonschema(item, relax_nullable=relax_nullable) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("nullable", "example", "examples", "description", "title", "format"):
            continue
        if key == "properties":
            props = {}
            for name, sub in value.items():
                converted = oas30_to_jsonschema(sub, relax_nullable=relax_nullable)
                if relax_nullable and isinstance(sub, dict) and sub.get("type") != "array":
                    converted = _nullable(converted)
                props[name] = converted
            out[key] = props
        else:
            out[key] = oas30_to_jsonschema(value, relax_nullable=relax_nullable)
    if isinstance(schema, dict) and schema.get("nullable") is True:
        return _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("anyOf") and {"type": "null"} in schema["anyOf"]:
        return schema
    return {"anyOf": [{"type": "null"}, schema]}


@dataclass
class Operation:
    path_template: str
    regex: re.Pattern[str]
    spec: dict[str, Any]


@dataclass
class Violation:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class SpecChecker:
    """Validates exchanges with one API's description; collects what does not fit."""

    api: str  # "teamleader" or "visma"
    prefix: str = ""  # the path prefix before the description's paths ("/v2" for Visma)
    violations: list[Violation] = field(default_factory=list)
    checked: int = 0

    def __post_init__(self) -> None:
        self.spec = _load(self.api)
        self.operations = _operations(self.api)

    # -- httpx event hooks -------------------------------------------------------------
    def hooks(self) -> dict[str, list[Any]]:
        return {"response": [self._on_response]}

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        self.check(response.request, response)

    # -- checking ----------------------------------------------------------------------
    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        path = request.url.path
        if "/_sandbox/" in path or "/oauth2/" in path or "/connect/" in path:
            return
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        method = request.method.lower()
        where = f"{request.method} {request.url.path} → {response.status_code}"
        operation = self._find(path, method)
        if operation is None:
            self.violations.append(Violation(where, "no such operation in the description"))
            return
        self.checked += 1
        op = operation.spec[method]
        content = request.content
        if content:
            schema = op.get("request")
            if schema is None:
                self.violations.append(Violation(where, "request has a body; none described"))
            else:
                self._validate(where + " request", schema, json.loads(content), request=True)
        self._check_response(where, op, response)

    def _check_response(self, where: str, op: dict[str, Any], response: httpx.Response) -> None:
        status = str(response.status_code)
        responses = op.get("responses", {})
        if status not in responses and response.is_success:
            self.violations.append(
                Violation(where, f"status {status} not described (has {sorted(responses)})")
            )
            return
        # A status with a JSON body: its schema; with none (null): no body.
        schema = responses.get(status)
        if schema is None and not response.is_success:
            schema = self._error_schema()
        if schema is None:
            if response.content:
                self.violations.append(Violation(where, "response has a body; none described"))
            return
        if not response.content:
            self.violations.append(Violation(where, "response has no body; one is described"))
            return
        self._validate(where + " response", schema, response.json(), request=False)

    def _error_schema(self) -> dict[str, Any]:
        if self.api == "teamleader":
            return TEAMLEADER_ERROR_SCHEMA
        return {"$ref": "#/schemas/CommonExtendedBadRequest"}

    def _validate(self, where: str, schema: dict[str, Any], body: Any, *, request: bool) -> None:
        validator = _validator(self.api, json.dumps(schema, sort_keys=True), request)
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            # Nullable fields are wrapped in anyOf[null, …]: report the reason inside.
            while error.context:
                inner = [e for e in error.context if e.validator_value != "null"]
                error = best_match(inner or error.context)
            location = "/".join(str(p) for p in error.absolute_path) or "(body)"
            self.violations.append(Violation(where, f"{location}: {error.message[:300]}"))

    def _find(self, path: str, method: str) -> Operation | None:
        for operation in self.operations:
            if method in operation.spec and operation.regex.fullmatch(path):
                return operation
        return None

    def assert_clean(self) -> None:
        if self.violations:
            listing = "\n".join(f"  - {v}" for v in self.violations[:40])
            raise AssertionError(
                f"{len(self.violations)} exchange(s) do not fit the {self.api} description:\n"
                + listing
            )


def described(api: str) -> dict[str, Any]:
    """The derived description of ``api`` ("teamleader" or "visma"): its ``operations`` and,
    for Visma, its named ``schemas`` with the validation keywords (``maxLength``, ``readOnly``,
    ``required``, …). Shared between callers: read it, do not change it."""
    return _load(api)


@cache
def _load(api: str) -> dict[str, Any]:
    if api not in ("teamleader", "visma"):
        raise ValueError(f"no description of {api!r}")
    return json.loads((API_SCHEMAS_DIR / f"{api}.json").read_text(encoding="utf-8"))


@cache
def _operations(api: str) -> list[Operation]:
    spec = _load(api)
    ops = []
    for template, item in spec["operations"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        ops.append(Operation(template, re.compile(pattern, re.IGNORECASE), item))
    # Literal paths win over templated ones (…/customerledgeritemswithvoucher vs …/{id}).
    ops.sort(key=lambda o: (o.path_template.count("{"), -len(o.path_template)))
    return ops


@cache
def _validator(api: str, schema_json: str, request: bool) -> Draft202012Validator:
    schema = json.loads(schema_json)
    if api == "teamleader":
        # The Teamleader description is dereferenced: no $ref to resolve.
        converted = oas30_to_jsonschema(schema, relax_nullable=not request)
        return Draft202012Validator(converted)
    # Visma's description is OpenAPI 3.1 (JSON Schema 2020-12) with $refs to named schemas.
    root = {**copy.deepcopy(schema), "schemas": _load(api)["schemas"]}
    return Draft202012Validator(root)
