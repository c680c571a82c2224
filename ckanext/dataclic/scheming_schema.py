"""Merge dataclic's scheming snippet (``schemas/dataclic_fields.yaml``) into a dataset schema.

Plain Python (no CKAN import), used by ``ckan dataclic scheming-schema``: reads a scheming
schema (a file path or ``module:path`` such as
``ckanext.dcat.schemas:dcat_ap_recommended.yaml``), appends the snippet's fields that the
schema does not declare yet, and returns the result.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

SNIPPET = Path(__file__).parent / "schemas" / "dataclic_fields.yaml"


class SchemaError(ValueError):
    """A schema that cannot be found or read; the message is meant for the user."""


def schema_path(reference: str) -> Path:
    """A file path, or ``package.module:relative/path`` inside an installed package."""
    path = Path(reference)
    if path.is_file():
        return path
    if ":" in reference:
        module_name, _, relative = reference.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise SchemaError(f"No module {module_name!r} for schema {reference!r}") from error
        candidate = Path(module.__file__ or "").parent / relative
        if candidate.is_file():
            return candidate
    raise SchemaError(f"Schema {reference!r} not found")


def read_schema(reference: str | Path) -> dict[str, Any]:
    path = reference if isinstance(reference, Path) else schema_path(reference)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SchemaError(f"Cannot read schema {path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("dataset_fields"), list):
        raise SchemaError(f"{path} is not a scheming dataset schema (no dataset_fields)")
    return data


def merged_schema(base: dict[str, Any], snippet: dict[str, Any] | None = None,
                  dataset_type: str | None = None) -> dict[str, Any]:
    """``base`` plus the snippet's dataset fields it lacks (base fields win)."""
    snippet = snippet if snippet is not None else read_schema(SNIPPET)
    result = dict(base)
    fields = list(base.get("dataset_fields") or [])
    known = {f.get("field_name") for f in fields}
    fields += [f for f in snippet["dataset_fields"] if f["field_name"] not in known]
    result["dataset_fields"] = fields
    if dataset_type:
        result["dataset_type"] = dataset_type
    return result
