"""Gridded extraction entry point: ``stats`` (per-commune statistics) and ``clip``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .profile import GridOverrides, GridProfile, apply_variable_choice, detect_grid_profile
from .selection import SelectedSource, apply_selection, label_selection

GRID_MODES = ("stats", "clip")
STATS_EXTENSIONS = {".csv": "csv", ".txt": "csv", ".geojson": "geojson", ".json": "geojson",
                    ".gpkg": "gpkg"}
CLIP_EXTENSIONS = {".nc": "netcdf", ".nc4": "netcdf", ".tif": "geotiff", ".tiff": "geotiff"}
METHOD = "exact cell-coverage area weights (shapely/GEOS), sparse products"


@dataclass
class GridReport:
    perimeter: str = ""
    mode: str = ""
    output_format: str = ""
    grid: str = ""
    crs: str = ""
    referential_vintage: str = ""
    variables: list[str] = field(default_factory=list)
    dimensions: dict[str, int] = field(default_factory=dict)
    communes: int = 0
    communes_without_value: list[str] = field(default_factory=list)
    cells_used: int = 0
    layers: int = 0
    rows_written: int = 0
    threshold: float | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)  # the labels kept
    weights_cached: bool = False
    weights_computed: int = 0
    method: str = METHOD
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        lines = [f"perimeter: {self.perimeter}  mode: {self.mode}  format: {self.output_format}",
                 f"grid: {self.grid} ({self.crs})",
                 f"variables: {', '.join(self.variables)}",
                 (f"communes: {self.communes}  grid cells used: {self.cells_used}  "
                  f"layers: {self.layers}")]
        if self.mode == "stats":
            lines.append(f"rows written: {self.rows_written}")
            lines.append("coverage weights: " + ("from the cache" if self.weights_cached and
                                                 not self.weights_computed else
                                                 f"computed for {self.weights_computed} communes"))
        if self.communes_without_value:
            lines.append(f"communes outside the grid: {len(self.communes_without_value)} "
                         f"({', '.join(self.communes_without_value[:5])})")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append(f"elapsed: {self.elapsed_s:.2f} s")
        return lines


@dataclass
class GridResult:
    output: Path
    profile: GridProfile
    report: GridReport

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "profile": self.profile.to_dict(),
                "report": self.report.to_dict()}


def open_source(path: Path, profile: GridProfile) -> Any:
    if profile.format == "netcdf":
        from .netcdf import NetcdfSource

        return NetcdfSource(path, profile)
    if profile.format == "geotiff":
        from .geotiff import GeotiffSource

        return GeotiffSource(path, profile)
    from .driastext import TextSource

    return TextSource(path, profile)


def _geometries(referential: Any) -> Callable[[list[str]], list[Any]]:
    """WGS84 contours of communes, from ``referential`` or the embedded one."""
    holder: dict[str, Any] = {}

    def get(codes: list[str]) -> list[Any]:
        ref = referential
        if not hasattr(ref, "commune_geometry"):
            wkb = getattr(ref, "commune_wkb", {})
            if all(c in wkb for c in codes):
                import shapely

                return [shapely.from_wkb(wkb[c]) for c in codes]
            if "full" not in holder:
                from ..engine import default_referential

                holder["full"] = default_referential()
            ref = holder["full"]
        batch = getattr(ref, "commune_contours", None)
        if batch is not None:  # one read for all of them
            found = batch(codes)
            return [found.get(c) for c in codes]
        return [ref.commune_geometry(c) for c in codes]

    return get


def _commune_name(referential: Any, code: str) -> str:
    commune = referential.current_commune(code) if hasattr(referential, "current_commune") \
        else None
    return commune.name if commune is not None else ""


def stats_format(destination: Path, output_format: str | None) -> str:
    fmt = (output_format or STATS_EXTENSIONS.get(destination.suffix.lower(), "")).lower()
    if fmt not in ("csv", "geojson", "gpkg"):
        raise ExtractionError(N_("The stats mode writes csv, geojson or gpkg; cannot tell "
                                 "the format of {file} (pass --format)"),
                              file=repr(destination.name))
    return fmt


def clip_format(destination: Path, output_format: str | None) -> str:
    fmt = (output_format or CLIP_EXTENSIONS.get(destination.suffix.lower(), "")).lower()
    fmt = {"nc": "netcdf", "tif": "geotiff", "tiff": "geotiff"}.get(fmt, fmt)
    if fmt not in ("netcdf", "geotiff"):
        raise ExtractionError(N_("The clip mode writes NetCDF (.nc) or GeoTIFF (.tif); "
                                 "cannot tell the format of {file}"),
                              file=repr(destination.name))
    return fmt


def extract_grid(
    source: str | Path,
    perimeter: Any,
    destination: str | Path,
    *,
    referential: Any = None,
    mode: str = "stats",
    output_format: str | None = None,
    profile: GridProfile | None = None,
    overrides: GridOverrides | None = None,
    threshold: float | None = None,
    wide: bool = False,
    delimiter: str = ";",
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> GridResult:
    """Per-commune statistics (``stats``) or a clip (``clip``) of a gridded file for
    ``perimeter``. The output appears under its final name only when complete."""
    from ..writers import remove_quietly, temporary_path

    started = time.perf_counter()
    source, destination = Path(source), Path(destination)
    if mode not in GRID_MODES:
        raise ExtractionError(N_("Unknown mode {mode} for a grid; choose stats or clip"),
                              mode=repr(mode))
    if not destination.parent.is_dir():
        raise ExtractionError(N_("The output folder {folder} does not exist"),
                              folder=destination.parent)
    if destination.exists() and source.exists() and source.resolve() == destination.resolve():
        raise ExtractionError(N_("The output would overwrite the input"))
    fmt = stats_format(destination, output_format) if mode == "stats" else \
        clip_format(destination, output_format)
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if delimiter not in (";", ",", "\t", "|"):
        raise ExtractionError(N_("The output delimiter must be ';', ',', tab or '|'"))
    ov = overrides or GridOverrides()
    if profile is None:
        profile = detect_grid_profile(source, replace(ov, variables=None))
    selection = label_selection(profile, ov.labels)  # checked against every dimension
    chosen = apply_variable_choice(profile, ov.variables)
    selection = {d: kept for d, kept in selection.items() if d in chosen.dimensions}
    profile = apply_selection(chosen, selection)
    if referential is None:
        from ..engine import default_referential

        referential = default_referential()
    variables = profile.variable_names()
    report = GridReport(perimeter=perimeter.id, mode=mode, output_format=fmt,
                        grid=f"{profile.grid.nx}x{profile.grid.ny} cells of "
                             f"{profile.grid.dx:g} x {profile.grid.dy:g}",
                        crs=profile.crs, referential_vintage=str(getattr(perimeter, "vintage",
                                                                         "")),
                        variables=variables, threshold=threshold,
                        dimensions={d: len(v) for d, v in profile.dimensions.items()},
                        labels={d: list(v) for d, v in profile.dimensions.items()})
    communes = [c for c in perimeter.communes]
    report.communes = len(communes)
    from .. import perimeter_cache
    from .cache import WeightStore, referential_key

    folder = Path(cache_dir) if cache_dir else (perimeter_cache.cache_dir() if use_cache
                                                else None)
    store = WeightStore(profile.grid, referential_key(referential), folder)
    matrix, areas = store.rows(communes, _geometries(referential))
    report.weights_cached, report.weights_computed = store.loaded_from_cache, store.computed
    import numpy as np
    from scipy import sparse

    per_row = sparse.csr_matrix(matrix.sum(axis=0))
    if per_row.nnz == 0:
        raise ExtractionError(N_("The grid of {file} does not cover {name} ({perimeter})"),
                              file=source.name, name=perimeter.name, perimeter=perimeter.id)
    empty = np.diff(matrix.indptr) == 0
    report.communes_without_value = [c for c, e in zip(communes, empty) if e]
    report.cells_used = int(per_row.nnz)
    tmp = temporary_path(destination)
    src = open_source(source, chosen)
    if selection:
        src = SelectedSource(src, chosen, selection)
    try:
        if mode == "stats":
            report.rows_written, report.layers = _run_stats(
                src, profile, perimeter, referential, communes, matrix, areas, per_row,
                threshold, wide, fmt, tmp, destination, delimiter, progress)
        else:
            report.layers = _run_clip(src, source, profile, per_row, fmt, tmp, variables,
                                      selection)
        os.replace(tmp, destination)
    except ExtractionError:
        remove_quietly(tmp)
        raise
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        remove_quietly(tmp)
        raise ExtractionError(N_("Cannot write {file}: {reason}"), file=destination.name,
                              reason=exc) from exc
    except BaseException:
        remove_quietly(tmp)
        raise
    finally:
        src.close()
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return GridResult(destination, profile, report)


def _run_stats(src: Any, profile: GridProfile, perimeter: Any, referential: Any,
               communes: list[str], matrix: Any, areas: Any, per_row: Any,
               threshold: float | None, wide: bool, fmt: str, tmp: Path, destination: Path,
               delimiter: str, progress: Any) -> tuple[int, int]:
    import numpy as np
    from scipy import sparse

    from . import outputs
    from .stats import LocalWeights, iterate_blocks, statistics

    units = [outputs.Unit("commune", c, _commune_name(referential, c)) for c in communes]
    units.append(outputs.Unit("perimeter", perimeter.id, perimeter.name))
    all_rows = sparse.vstack([matrix, per_row], format="csr")
    weights = LocalWeights(all_rows, np.append(areas, areas.sum()), profile.grid.nx)
    stats = statistics(threshold)
    labels = outputs.LayerLabels(profile, profile.variable_names())
    blocks = iterate_blocks(src, profile, weights, profile.variable_names(), threshold,
                            progress)
    if fmt == "csv" and not wide:
        rows = outputs.write_long_csv(tmp, units, labels, stats, blocks, delimiter)
        layers = rows // max(1, len(units) * len(stats))
        return rows, layers
    names, columns = outputs.wide_table(units, labels, stats, blocks)
    layers = len(names) // len(stats)
    if fmt == "csv":
        return outputs.write_wide_csv(tmp, units, names, columns, delimiter), layers
    geoms = _geometries(referential)(communes)
    geoms.append(perimeter.geometry)
    layer = "".join(c if c.isalnum() or c == "_" else "_" for c in destination.stem) or "stats"
    return outputs.write_features(tmp, fmt, units, geoms, names, columns, layer), layers


def _run_clip(src: Any, source: Path, profile: GridProfile, per_row: Any, fmt: str,
              tmp: Path, variables: list[str], selection: dict[str, list[int]]) -> int:
    import numpy as np

    from . import clip
    from .stats import layer_count

    g = profile.grid
    cells = per_row.indices
    r0, r1, c0, c1 = g.window_of_cells(cells)
    mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    mask[cells // g.nx - r0, cells % g.nx - c0] = True
    window = (r0, r1, c0, c1)
    if fmt == "netcdf" and profile.format == "netcdf":
        clip.clip_netcdf_input(source, profile, mask, window, variables, tmp, selection)
    elif fmt == "netcdf":
        attrs = {"source": source.name, "history": "dataclic clip: cells meeting the perimeter"}
        comments = getattr(getattr(src, "table", None), "comments", None)
        if comments:
            attrs["drias_header"] = "\n".join(comments)
        clip.clip_generic_netcdf(src, profile, mask, window, variables, tmp, attrs)
    else:
        clip.clip_geotiff(src, profile, mask, window, variables, tmp)
    return sum(layer_count([len(profile.dimensions[d]) for d in profile.variable(v).dims])
               for v in variables)


def profile_json(profile: GridProfile) -> str:
    return json.dumps(profile.to_dict(), ensure_ascii=False, indent=2)
