"""Gridded resources (NetCDF, GeoTIFF, DRIAS text exports) on the CKAN side: their profile,
the options of a grid extraction (variables, labels, threshold, wide), running it with the
engine's ``extract_grid``, and its preview. The API is documented in docs/extraction.md
("Climate grids")."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction.settings import (
    GRID_FORMATS,
    GRID_FORMATS_BY_MODE,
    N_,
    invalid,
    settings,
    translate,
)

GRID_MODES = ("stats", "clip")
# Where the commune x cell coverage weights are cached (one file per grid and referential
# vintage), under the extraction storage.
WEIGHTS_FOLDER = "grid-weights"


def is_grid(profile: dict[str, Any] | None) -> bool:
    return bool(profile) and (profile or {}).get("kind") == "grid"


def is_grid_path(path: Path) -> bool:
    from ckanext.dataclic.extract.grid import is_grid_file

    return is_grid_file(path)


# What an editor may correct in a grid profile (dataclic_profile_update): the detection is
# run again with these overrides, and they are kept for later versions of the file.
OVERRIDES = ("crs", "x_dim", "y_dim", "index_base")
NOT_CORRECTABLE = N_("Only {fields} can be corrected in the profile of a gridded resource")


def detect(path: Path, overrides: dict[str, Any] | None = None,
           name: str | None = None) -> dict[str, Any]:
    """The stored profile of a gridded file (raises the engine's ExtractionError); with the
    editor's ``overrides`` (kept in the profile) when given. The one variable of a GeoTIFF
    is named after the file: after ``name`` (the resource's), since CKAN stores uploads
    under an id."""
    from ckanext.dataclic.extract.grid import detect_grid_profile
    from ckanext.dataclic.extract.grid.geotiff import variable_name
    from ckanext.dataclic.extract.grid.profile import GridOverrides

    chosen = {k: v for k, v in (overrides or {}).items() if k in OVERRIDES and v is not None}
    found = detect_grid_profile(path, GridOverrides(**chosen)).to_dict()
    if found["format"] == "geotiff" and name and len(found["variables"]) == 1:
        found["variables"][0]["name"] = variable_name(Path(name))
    if chosen:
        found["overrides"] = chosen
    return found


def resource_name(resource: dict[str, Any]) -> str:
    return str(resource.get("name") or Path(str(resource.get("url") or "")).name or "")


def corrected(path: Path, before: dict[str, Any] | None, changes: dict[str, Any],
              name: str | None = None) -> dict[str, Any]:
    """The profile of a gridded file detected again with an editor's corrections; a
    ``ValidationError`` on the ``profile`` field, in the request's language, when a change
    is not one of :data:`OVERRIDES` or the file still cannot be used."""
    from ckanext.dataclic.extract.errors import ExtractionError

    before = before or {}
    others = [k for k, v in changes.items()
              if k not in OVERRIDES and k != "overrides" and before.get(k) != v]
    if others:
        raise invalid("profile", NOT_CORRECTABLE, fields=", ".join(OVERRIDES))
    overrides = {**(before.get("overrides") or {}),
                 **{k: v for k, v in changes.items() if k in OVERRIDES}}
    if overrides.get("index_base") not in (None, 0, 1):
        raise invalid("profile", NOT_CORRECTABLE, fields=", ".join(OVERRIDES))
    try:
        return detect(path, overrides, name)
    except ExtractionError as error:
        raise tk.ValidationError({"profile": [error.render(translate)]}) from error


def formats_by_mode(profile: dict[str, Any]) -> dict[str, list[str]]:
    return {mode: list(formats) for mode, formats in GRID_FORMATS_BY_MODE.items()} \
        if is_grid(profile) else {}


LIST_OF_NAMES = N_("Give the variables as a list of names")
LABELS_OBJECT = N_("Give the labels as a JSON object {{dimension: [labels]}}")
NOT_A_NUMBER = N_("The threshold must be a number; got {value}")
MODE_MISFIT = N_("The {value} mode does not fit this resource; possible modes: {accepted}")
FORMAT_MISFIT = N_("The {value} format does not fit the {mode} mode; possible formats: "
                   "{accepted}")
THRESHOLD_MISFIT = N_("A threshold only applies to the stats mode")
WIDE_MISFIT = N_("The wide layout only applies to the stats mode in CSV")
NOT_A_BOOLEAN = N_("The {option} option must be true or false; got {value}")


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    raise invalid("variables", LIST_OF_NAMES)


def _labels(value: Any) -> dict[str, list[str]]:
    if value is None or value == "" or value == {}:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise invalid("labels", LABELS_OBJECT) from None
    if not isinstance(value, dict):
        raise invalid("labels", LABELS_OBJECT)
    out: dict[str, list[str]] = {}
    for dim, labels in value.items():
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, (list, tuple)):
            raise invalid("labels", LABELS_OBJECT)
        out[str(dim)] = [str(v) for v in labels]
    return out


def _threshold(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bool, dict, list)):
        raise invalid("threshold", NOT_A_NUMBER, value=json.dumps(value))
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise invalid("threshold", NOT_A_NUMBER, value=str(value)) from None
    if not math.isfinite(number):
        raise invalid("threshold", NOT_A_NUMBER, value=str(value))
    return number


def options(profile: dict[str, Any], mode: str, fmt: str, *, variables: Any = None,
            labels: Any = None, threshold: Any = None, wide: Any = False) -> dict[str, Any]:
    """The normalised options of a grid extraction (part of its cache key); a
    ``ValidationError`` naming the field, in the request's language, when one does not fit."""
    from ckanext.dataclic.extract.errors import ExtractionError
    from ckanext.dataclic.extract.grid.profile import GridProfile, apply_variable_choice
    from ckanext.dataclic.extract.grid.selection import label_selection

    if mode not in GRID_MODES:
        raise invalid("mode", MODE_MISFIT, value=mode, accepted=", ".join(GRID_MODES))
    if fmt not in GRID_FORMATS_BY_MODE[mode]:
        raise invalid("format", FORMAT_MISFIT, value=fmt, mode=mode,
                      accepted=", ".join(GRID_FORMATS_BY_MODE[mode]))
    grid = GridProfile.from_dict(profile)
    names = _names(variables)
    chosen_labels = _labels(labels)
    number = _threshold(threshold)
    if number is not None and mode != "stats":
        raise invalid("threshold", THRESHOLD_MISFIT)
    try:
        wide = tk.asbool(wide) if wide not in (None, "") else False
    except ValueError:
        raise invalid("wide", NOT_A_BOOLEAN, option="wide", value=str(wide)) from None
    if wide and not (mode == "stats" and fmt == "csv"):
        raise invalid("wide", WIDE_MISFIT)
    try:
        chosen = apply_variable_choice(grid, names) if names else grid
    except ExtractionError as error:
        raise tk.ValidationError({"variables": [error.render(translate)]}) from error
    try:
        selection = label_selection(grid, chosen_labels)
    except ExtractionError as error:
        raise tk.ValidationError({"labels": [error.render(translate)]}) from error
    # Only the dimensions narrowed down: asking for every label is asking for none.
    kept = {d: [grid.dimensions[d][i] for i in selection[d]] for d in sorted(selection)
            if d in chosen.dimensions and len(selection[d]) < len(grid.dimensions[d])}
    return {"variables": list(dict.fromkeys(names)), "labels": kept, "threshold": number,
            "wide": bool(wide)}


def weights_folder() -> Path:
    folder = settings().storage / WEIGHTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run(path: Path, perimeter: Any, output: Path, ref: Any, record: dict[str, Any],
        profile: dict[str, Any], progress: Callable[[int, int], None]) -> dict[str, Any]:
    """Run a grid extraction; returns the report (the engine's GridReport with ``kind``)."""
    from ckanext.dataclic.extract.grid import extract_grid
    from ckanext.dataclic.extract.grid.profile import GridOverrides, GridProfile

    opts = json.loads(record.get("options") or "{}")
    overrides = GridOverrides(variables=opts.get("variables") or None,
                              labels=opts.get("labels") or None)
    result = extract_grid(path, perimeter, output, referential=ref, mode=record["mode"],
                          output_format=record["format"],
                          profile=GridProfile.from_dict(profile), overrides=overrides,
                          threshold=opts.get("threshold"), wide=bool(opts.get("wide")),
                          cache_dir=weights_folder(), progress=progress)
    return {**result.report.to_dict(), "kind": "grid"}


def preview(profile: dict[str, Any], perimeter: Any, mode: str | None) -> dict[str, Any]:
    """What a grid extraction gives, without reading the data: the number of communes (and
    of layers: variables x labels) and whether the grid's extent meets the perimeter."""
    from ckanext.dataclic.extract.grid.profile import GridProfile

    grid = GridProfile.from_dict(profile)
    layers = 0
    for var in grid.variables:
        count = 1
        for dim in var.dims:
            count *= len(grid.dimensions.get(dim, [])) or 1
        layers += count
    covered = _extent_meets(grid, perimeter)
    return {"communes": len(perimeter.communes), "layers": layers,
            "variables": len(grid.variables), "covered": covered,
            "rows_estimate": None, "exact": False, "source": "grid"}


def _extent_meets(grid: Any, perimeter: Any) -> bool | None:
    """Whether the grid's extent meets the perimeter's bounding box (None: unknown)."""
    try:
        from pyproj import Transformer

        g = grid.grid
        west, south, east, north = perimeter.bounds
        tr = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
        xs, ys = tr.transform([west, east, west, east], [south, south, north, north])
        return not (max(xs) < g.x_min or min(xs) > g.x_max or max(ys) < g.y_min
                    or min(ys) > g.y_max)
    except Exception:  # noqa: BLE001 - a figure is a bonus
        return None


__all__ = ["GRID_FORMATS", "GRID_MODES", "detect", "formats_by_mode", "is_grid",
           "is_grid_path", "options", "preview", "run", "weights_folder"]
