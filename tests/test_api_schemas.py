"""The derived descriptions in ``tests/api_schemas/`` are what ``bin/derive-schemas`` derives.

The suite checks every exchange against those committed files, never against the official
descriptions themselves (docs/api-facts.md, "The official descriptions and the tests'
subset"); this test is the one that reads them, to fail
when the committed subset drifts from them or from what the simulators serve. Without the
official descriptions it skips (fails under ``KOPPEL_TESTS_STRICT=1``, as in CI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_schemas import derive
from tests.conftest import skip_unless_strict
from tests.spec_check import described

PROSE = {"description", "example", "examples", "summary", "title"}


def test_the_committed_descriptions_are_what_bin_derive_schemas_derives() -> None:
    specs = derive.specs_dir()
    missing = [name for name in derive.SOURCES.values() if not (specs / name).is_file()]
    if missing:
        skip_unless_strict(
            f"the official API descriptions are not in {specs} ({derive.SPECS_ENV} names "
            "another folder): the committed tests/api_schemas/ are not compared with them"
        )
    derived = derive.derive_all(specs)
    committed = {path.name for path in derive.OUTPUT_DIR.glob("*.json")}
    assert committed == set(derived), "run bin/derive-schemas"
    for name, text in derived.items():
        current = (derive.OUTPUT_DIR / name).read_text(encoding="utf-8")
        assert current == text, f"tests/api_schemas/{name} is out of date: run bin/derive-schemas"


def _prose_keys(node: Any, where: str = "") -> Iterator[str]:
    """Where a prose keyword is a key, except the field names of ``properties`` maps."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PROSE:
                yield f"{where}/{key}"
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    yield from _prose_keys(schema, f"{where}/properties/{name}")
            elif key not in ("enum", "const"):
                yield from _prose_keys(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _prose_keys(item, f"{where}/{index}")


@pytest.mark.parametrize("api", sorted(derive.SOURCES))
def test_the_derived_descriptions_keep_no_prose(api: str) -> None:
    assert list(_prose_keys(described(api))) == []


def test_field_names_that_read_like_prose_are_kept() -> None:
    # Visma's AccountApi has a field called Description; "description" as a keyword goes.
    schema = {"description": "x", "properties": {"description": {"type": "string", "title": "t"}}}
    assert derive.strip_schema(schema) == {"properties": {"description": {"type": "string"}}}
    assert "Description" in described("visma")["schemas"]["AccountApi"]["properties"]


@pytest.mark.parametrize("api", sorted(derive.SOURCES))
def test_the_derived_operations_are_those_the_simulators_serve(api: str) -> None:
    operations = described(api)["operations"]
    kept = {path: sorted(item) for path, item in operations.items()}
    assert kept == derive.served_operations(api)


def test_every_visma_reference_resolves_and_no_component_is_unreachable() -> None:
    visma = described("visma")
    schemas = visma["schemas"]
    reachable = derive.reachable_components(
        visma["operations"], schemas, derive.EXTRA_COMPONENTS["visma"]
    )
    assert set(reachable) == set(schemas)


def test_the_header_names_the_source_and_its_digest() -> None:
    for api, name in derive.SOURCES.items():
        header = described(api)["derived_from"]
        assert header["file"] == name
        assert len(header["sha256"]) == 64
        text = (derive.OUTPUT_DIR / f"{api}.json").read_text(encoding="utf-8")
        assert text == derive.render(json.loads(text))  # sorted, indent 1, trailing newline
