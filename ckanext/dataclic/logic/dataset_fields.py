"""Dataset-level fields written by dataclic, as free extras or as ckanext-scheming fields.

Without scheming, CKAN keeps arbitrary ``extras``; with scheming, a dataset type's fields
are top-level keys (declared with the snippet ``schemas/dataclic_fields.yaml``) and
undeclared keys are dropped. These two functions hide the difference from the publication
and the templates' helpers.
"""
from __future__ import annotations

from typing import Any

import ckan.plugins.toolkit as tk


def scheming_field_names(dataset_type: str = "dataset") -> set[str] | None:
    """Field names of the scheming schema of ``dataset_type``; None without scheming."""
    try:
        show = tk.get_action("scheming_dataset_schema_show")
    except KeyError:
        return None
    try:
        schema = show({"ignore_auth": True}, {"type": dataset_type})
    except (tk.ObjectNotFound, tk.ValidationError):
        return None
    return {f["field_name"] for f in schema.get("dataset_fields") or []}


def as_package_fields(values: dict[str, Any], dataset_type: str = "dataset",
                      current_extras: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``values`` as keys of a package_create/patch call: declared scheming fields at the
    top level, the rest (all of them without scheming) in ``extras``, merged over
    ``current_extras``."""
    names = scheming_field_names(dataset_type)
    declared = names or set()
    values = dict(values)
    if "temporal_coverage" in declared and ("temporal_start" in values or
                                            "temporal_end" in values):
        # ckanext-dcat's DCAT-AP schemas: one period with start and end subfields.
        values["temporal_coverage"] = [{"start": values.pop("temporal_start", None),
                                        "end": values.pop("temporal_end", None)}]
    fields = {k: v for k, v in values.items() if k in declared}
    extras = {e["key"]: e["value"] for e in current_extras or [] if e.get("key") not in declared}
    extras.update({k: v for k, v in values.items() if k not in declared})
    if extras or current_extras is not None or names is None:
        fields["extras"] = [{"key": k, "value": v} for k, v in extras.items()]
    return fields


def read_fields(pkg_dict: dict[str, Any] | None) -> dict[str, Any]:
    """Extras and top-level ``dataclic_*``/``spatial`` fields of a dataset, as one dict."""
    pkg_dict = pkg_dict or {}
    values = {e.get("key"): e.get("value")
              for e in pkg_dict.get("extras") or [] if isinstance(e, dict)}
    for key, value in pkg_dict.items():
        if (key.startswith("dataclic_") or key == "spatial") and value not in (None, ""):
            values.setdefault(key, value)
    return values
