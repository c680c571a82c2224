"""Profiles of gridded inputs: which variables, which non-spatial dimensions (with their
labels), which CRS and which grid. Detected from the file, overridable.

NetCDF (CF), GeoTIFF / COG and DRIAS text exports are recognised. DRIAS NetCDF quirks are
handled here (see docs/extract.md, "Climate grids"): the ``LambertParisII`` /
``lambert_conformal_conic_1SP`` grid mapping that pyproj and GDAL do not read is
EPSG:27572; 2-D ``lat``/``lon`` variables are ignored for georeferencing; y may run
south-up; x/y may hold cell indices of the SAFRAN grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .spec import GridSpec

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
GEOTIFF_SUFFIXES = (".tif", ".tiff", ".geotiff", ".cog")
TEXT_HEADER = "point;latitude;longitude"


@dataclass
class GridVariable:
    name: str
    dims: list[str]  # non-spatial dimensions, in file order
    units: str = ""
    long_name: str = ""


@dataclass
class GridProfile:
    """What the grid engine needs to read a gridded file (JSON-serialisable)."""

    format: str  # "netcdf" | "geotiff" | "drias-text"
    crs: str
    crs_source: str
    grid: GridSpec
    variables: list[GridVariable]
    dimensions: dict[str, list[str]]  # non-spatial dimension -> labels
    x_dim: str | None = None
    y_dim: str | None = None
    y_south_up: bool = False
    index_base: int | None = None  # x/y hold cell indices (0- or 1-based) of the SAFRAN grid
    notes: list[str] = field(default_factory=list)
    kind: str = "grid"

    def variable(self, name: str) -> GridVariable:
        for var in self.variables:
            if var.name == name:
                return var
        raise ExtractionError(N_("No variable {name} in the file; it has {names}"),
                              name=repr(name), names=self.variable_names())

    def variable_names(self) -> list[str]:
        return [v.name for v in self.variables]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "format": self.format, "crs": self.crs,
            "crs_source": self.crs_source, "grid": self.grid.to_dict(),
            "variables": [vars(v) for v in self.variables], "dimensions": self.dimensions,
            "x_dim": self.x_dim, "y_dim": self.y_dim, "y_south_up": self.y_south_up,
            "index_base": self.index_base, "notes": self.notes,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridProfile:
        return cls(
            format=data["format"], crs=data["crs"], crs_source=data.get("crs_source", ""),
            grid=GridSpec.from_dict(data["grid"]),
            variables=[GridVariable(**v) for v in data["variables"]],
            dimensions={k: list(v) for k, v in data["dimensions"].items()},
            x_dim=data.get("x_dim"), y_dim=data.get("y_dim"),
            y_south_up=bool(data.get("y_south_up")), index_base=data.get("index_base"),
            notes=list(data.get("notes", [])),
        )


@dataclass
class GridOverrides:
    crs: str | None = None
    variables: list[str] | None = None
    x_dim: str | None = None
    y_dim: str | None = None
    index_base: int | None = None
    labels: dict[str, list[str]] | None = None  # dimension -> labels to keep


def grid_format(path: Path) -> str | None:
    """The grid format of ``path`` from its name and first bytes, or None."""
    suffix = path.suffix.lower()
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    if suffix in GEOTIFF_SUFFIXES:
        return "geotiff"
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if head[:4] in (b"CDF\x01", b"CDF\x02", b"\x89HDF"):
        return "netcdf"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "geotiff"
    text = head.decode("latin-1").lower()
    # CKAN keeps uploads without a suffix, and fetched copies as ".data".
    if suffix in (".txt", ".csv", ".data", "") and any(
            line.strip().replace(" ", "").startswith(TEXT_HEADER) for line in text.splitlines()):
        return "drias-text"
    return None


def is_grid_file(path: str | Path) -> bool:
    return grid_format(Path(path)) is not None


def detect_grid_profile(path: str | Path, overrides: GridOverrides | None = None) -> GridProfile:
    """Detect the profile of a gridded file; :class:`ExtractionError` when it is unusable."""
    path = Path(path)
    ov = overrides or GridOverrides()
    if not path.is_file():
        raise ExtractionError(N_("The input {file} does not exist"), file=path)
    fmt = grid_format(path)
    if fmt == "netcdf":
        from .netcdf import detect_netcdf

        profile = detect_netcdf(path, ov)
    elif fmt == "geotiff":
        from .geotiff import detect_geotiff

        profile = detect_geotiff(path, ov)
    elif fmt == "drias-text":
        from .driastext import detect_text

        profile = detect_text(path, ov)
    else:
        raise ExtractionError(N_("{file} is not a NetCDF, GeoTIFF or DRIAS text file"),
                              file=path.name)
    return apply_variable_choice(profile, ov.variables)


def apply_variable_choice(profile: GridProfile, names: list[str] | None) -> GridProfile:
    if not names:
        return profile
    chosen = [profile.variable(n) for n in names]
    used = {d for v in chosen for d in v.dims}
    return replace(profile, variables=chosen,
                   dimensions={k: v for k, v in profile.dimensions.items() if k in used})


def format_label(value: Any) -> str:
    """A dimension label as text: ISO dates for times, plain numbers otherwise."""
    import numpy as np

    if isinstance(value, np.datetime64):
        text = str(np.datetime_as_string(value, unit="s"))
        return text[:10] if text.endswith("T00:00:00") else text
    if hasattr(value, "isoformat"):  # cftime and datetime
        text = value.isoformat()
        return text[:10] if text.endswith("00:00:00") else text
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
