"""The local cut of a gridded resource (NetCDF, GeoTIFF, DRIAS text export) in a territorial
harvest: per-commune statistics of the territory instead of the national grid.

Plain Python (no CKAN import). The grid engine (:func:`extract_grid`, mode ``stats``) writes
the long CSV and the GeoJSON with the commune polygons; the coverage weights of each
(grid, referential) are cached in ``<staging folder>/grid-weights``, so that a grid is
weighted once and every later harvest of any file on it only reads the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ckanext.dataclic.extract.errors import ExtractionError
from ckanext.dataclic.grid_provenance import labels_summary

from .local_cut import CutError, CutResult, _temp_path, sha256

GRID_OUTPUTS = ("csv", "geojson")
WEIGHTS_FOLDER = "grid-weights"
# udata resource formats that are grids whatever their content; "csv" and "txt" resources
# are grids when their content is a DRIAS text export (``Point;Latitude;Longitude;…``).
GRID_FORMATS = {"nc": ".nc", "netcdf": ".nc", "nc4": ".nc", "netcdf4": ".nc",
                "tif": ".tif", "tiff": ".tif", "geotiff": ".tif", "cog": ".tif"}
MAYBE_GRID_FORMATS = {"txt": ".txt", "text": ".txt"}
LAYER_NAME = "statistics_per_commune"


def staged_suffix(fmt: str) -> str | None:
    """The suffix to stage a resource of udata format ``fmt`` under when it is, or may be,
    a grid (the engine tells formats apart by suffix and first bytes)."""
    return GRID_FORMATS.get(fmt) or MAYBE_GRID_FORMATS.get(fmt)


def is_grid(path: Path) -> bool:
    from ckanext.dataclic.extract.grid.profile import grid_format

    return grid_format(path) is not None


def cut_grid(
    staged: Path, perimeter: Any, referential: Any, folder: Path, outputs: tuple[str, ...], *,
    mode: str | None = None, overrides: Any = None, name: str = "grid",
) -> CutResult:
    """Per-commune statistics of ``staged`` for ``perimeter``, one file per output format
    (the signature of :func:`.local_cut.cut`, plus ``name``: the resource's file name).
    Temporary outputs are removed when anything fails; an unreadable grid (no CRS, not
    covering the territory…) is a :class:`CutError` naming what is wrong.

    The engine names things after files (a GeoTIFF's variable after the input, the GeoJSON
    layer after the output): both are given stable names in a work folder, so that an
    unchanged grid gives the same bytes at every harvest."""
    import os
    import shutil
    import tempfile

    from ckanext.dataclic.extract.grid.profile import detect_grid_profile

    result = CutResult(kind="grid", mode="stats")
    made: list[Path] = []
    work = Path(tempfile.mkdtemp(dir=folder))
    try:
        source = work / f"{safe_stem(name)}{staged.suffix}"
        try:
            os.link(staged, source)  # same folder: no copy
        except OSError:
            shutil.copyfile(staged, source)
        try:
            profile = detect_grid_profile(source, overrides)
        except ExtractionError as exc:
            raise CutError(str(exc), exc) from exc
        report = None
        for fmt in outputs:
            target = _temp_path(folder, "." + fmt)
            made.append(target)
            written = work / f"{LAYER_NAME}.{fmt}"
            done = _stats(source, perimeter, referential, folder, fmt, profile, written)
            os.replace(written, target)
            result.files[fmt] = target
            if report is None:
                report = done.report
                result.data_hash = sha256(target)
        assert report is not None
        result.rows_read = profile.grid.cells
        result.rows_kept = report.cells_used
        result.extras = grid_provenance(profile, report)
        result.facts = {"grid_cells_used": report.cells_used, "grid_layers": report.layers,
                        "grid_rows_written": report.rows_written,
                        "grid_weights_from_cache": bool(report.weights_cached
                                                        and not report.weights_computed),
                        "grid_communes_outside": report.communes_without_value}
        return result
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grid_overrides(config: dict[str, Any]) -> Any:
    """The grid overrides a harvest source's config asks for (``grid_crs``: the CRS of grids
    whose file has no usable one), or None."""
    if not config.get("grid_crs"):
        return None
    from ckanext.dataclic.extract.grid.profile import GridOverrides

    return GridOverrides(crs=str(config["grid_crs"]))


def safe_stem(name: str) -> str:
    """A file stem of letters, digits, ``_`` and ``-`` from a resource's file name."""
    stem = Path(name).stem
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in stem).strip("_") or "grid"


def _stats(source: Path, perimeter: Any, referential: Any, folder: Path, fmt: str,
           profile: Any, written: Path) -> Any:
    from ckanext.dataclic.extract.grid.engine import extract_grid

    try:
        return extract_grid(source, perimeter, written, referential=referential, mode="stats",
                            output_format=fmt, profile=profile, delimiter=",",
                            cache_dir=folder / WEIGHTS_FOLDER)
    except ExtractionError as exc:
        raise CutError(str(exc), exc) from exc


def grid_provenance(profile: Any, report: Any) -> dict[str, str]:
    """What a dataset built from a grid says about it, beside the territorial provenance:
    the grid, its CRS, the variables, the labels of the other dimensions, the method (the
    referential vintage is ``dataclic_cog_vintage``)."""
    variables = []
    for var in profile.variables:
        variables.append(f"{var.name} ({var.units})" if var.units else var.name)
    return {
        "dataclic_grid": report.grid,
        "dataclic_grid_crs": profile.crs,
        "dataclic_grid_format": profile.format,
        "dataclic_variables": ", ".join(variables),
        "dataclic_labels": labels_summary(dict(profile.dimensions)),
        "dataclic_grid_method": report.method,
    }


def merged_provenance(parts: list[dict[str, str]]) -> dict[str, str]:
    """One set of grid extras for a dataset with several grid resources: each key's
    distinct values, in order, joined by " | " (the labels' JSON objects are united)."""
    merged: dict[str, list[str]] = {}
    for extras in parts:
        for key, value in extras.items():
            values = merged.setdefault(key, [])
            if value not in values:
                values.append(value)
    joined = {key: " | ".join(values) for key, values in merged.items()}
    if len(merged.get("dataclic_labels", [])) > 1:  # JSON: one object for every resource
        from ckanext.dataclic.grid_provenance import json_dict

        union: dict[str, object] = {}
        for value in merged["dataclic_labels"]:
            union.update(json_dict(value))
        joined["dataclic_labels"] = json.dumps(union, ensure_ascii=False)
    return joined
