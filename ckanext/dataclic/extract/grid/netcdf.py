"""NetCDF (CF) grids read through xarray (h5netcdf for NetCDF-4, scipy for NetCDF-3).

DRIAS files are read through xarray's 1-D x/y, never through GDAL: their 2-D ``lat``/``lon``
variables make GDAL drop the georeferencing, and their ``LambertParisII`` grid mapping
(``lambert_conformal_conic_1SP``, central meridian relative to Paris, no ellipsoid) is
read by neither GDAL nor pyproj. It is EPSG:27572.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import N_, ExtractionError
from .profile import GridOverrides, GridProfile, GridVariable, format_label
from .spec import SAFRAN, SAFRAN_X0, SAFRAN_Y0, GridSpec

X_NAMES = ("x", "X", "i", "lon", "longitude", "rlon", "west_east")
Y_NAMES = ("y", "Y", "j", "lat", "latitude", "rlat", "south_north")
X_STANDARD = ("projection_x_coordinate", "longitude", "grid_longitude")
Y_STANDARD = ("projection_y_coordinate", "latitude", "grid_latitude")
UNIT_FACTORS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
                "km": 1000.0, "hm": 100.0}


@contextmanager
def open_netcdf(path: Path) -> Iterator[Any]:
    import xarray as xr

    try:
        ds = xr.open_dataset(path, decode_times=True)
    except (ValueError, TypeError):
        try:  # an undecodable calendar: keep raw times
            ds = xr.open_dataset(path, decode_times=False)
        except Exception as exc:
            raise ExtractionError(N_("Cannot read {file} as NetCDF: {reason}"), file=path.name,
                                  reason=exc) from exc
    except Exception as exc:
        raise ExtractionError(N_("Cannot read {file} as NetCDF: {reason}"), file=path.name,
                                  reason=exc) from exc
    try:
        yield ds
    finally:
        ds.close()


def _axis_dim(ds: Any, names: tuple[str, ...], standard: tuple[str, ...], axis: str,
              chosen: str | None) -> str | None:
    if chosen:
        if chosen not in ds.dims:
            raise ExtractionError(N_("No dimension {name} in the file; it has {names}"),
                                  name=repr(chosen), names=[str(d) for d in ds.dims])
        return chosen
    for dim in ds.dims:
        if dim in ds.variables:
            attrs = ds[dim].attrs
            if attrs.get("axis") == axis or attrs.get("standard_name") in standard:
                return str(dim)
    for name in names:
        if name in ds.dims:
            return name
    return None


def _is_lonlat(ds: Any, dim: str) -> bool:
    if dim not in ds.variables:
        return False
    attrs = ds[dim].attrs
    units = str(attrs.get("units", "")).lower()
    return attrs.get("standard_name") in ("longitude", "latitude") or units.startswith(
        ("degree", "degrees_"))


def _grid_mapping_crs(ds: Any, data_vars: list[str]) -> tuple[str | None, str]:
    """(CRS, where it came from) from the CF grid mapping; (None, why) when unusable."""
    names = {str(ds[v].attrs.get("grid_mapping", "")).split(":")[0].strip() for v in data_vars}
    names.discard("")
    if not names:
        for candidate in ("LambertParisII", "crs", "spatial_ref", "lambert_conformal_conic"):
            if candidate in ds.variables:
                names.add(candidate)
    for name in sorted(names):
        if name not in ds.variables:
            return None, f"the grid_mapping variable {name!r} named by the data is absent"
        attrs = dict(ds[name].attrs)
        gm_name = str(attrs.get("grid_mapping_name", ""))
        epsg = attrs.get("epsg") or attrs.get("EPSG_code") or attrs.get("epsg_code")
        epsg_text = str(epsg).strip().upper().removeprefix("EPSG:") if epsg is not None else ""
        if (name == "LambertParisII" or gm_name == "lambert_conformal_conic_1SP"
                or epsg_text == "27572"):
            if epsg_text and epsg_text != "27572":
                pass  # another EPSG code, handled below
            else:
                return "EPSG:27572", (f"grid mapping {name!r} ({gm_name or 'Lambert II'}, "
                                      "read as EPSG:27572, NTF (Paris) / Lambert zone II)")
        if epsg_text.isdigit():
            return f"EPSG:{int(epsg_text)}", f"grid mapping {name!r} (epsg={epsg_text})"
        for key in ("crs_wkt", "spatial_ref"):
            if attrs.get(key):
                try:
                    from ..profile import normalise_crs

                    return normalise_crs(str(attrs[key])), f"grid mapping {name!r} ({key})"
                except ExtractionError:
                    continue
        if gm_name:
            try:
                from pyproj import CRS

                crs = CRS.from_cf(attrs)
                epsg_code = crs.to_epsg()
                return (f"EPSG:{epsg_code}" if epsg_code else crs.to_wkt(),
                        f"grid mapping {name!r} ({gm_name})")
            except Exception:  # noqa: BLE001 - pyproj cannot read it: say so below
                return None, (f"the grid mapping {name!r} ({gm_name}) is not understood "
                              "and has no epsg, crs_wkt or spatial_ref attribute")
    return None, N_("no grid_mapping variable, and no crs_wkt, spatial_ref or epsg attribute")


def _index_base(values: Any, size: int, forced: int | None) -> int | None:
    """0 or 1 when ``values`` are cell indices (whole numbers, step 1), else None."""
    import numpy as np

    steps = np.diff(values)
    if values.size < 2 or not (np.all(steps == 1) or np.all(steps == -1)) or not np.all(
            np.mod(values, 1) == 0):
        return None
    if forced is not None:
        return forced
    return 0 if values.min() == 0 else 1


def _axes(ds: Any, x_dim: str, y_dim: str, ov: GridOverrides) -> tuple[Any, Any, int | None]:
    """Centre coordinates along x and y (file order) and the index base if they are indices."""
    import numpy as np

    def values(dim: str, size: int) -> Any:
        if dim in ds.variables:
            return np.asarray(ds[dim].values, dtype=np.float64)
        return np.arange(size, dtype=np.float64)

    xs, ys = values(x_dim, ds.sizes[x_dim]), values(y_dim, ds.sizes[y_dim])
    base_x = _index_base(xs, ds.sizes[x_dim], ov.index_base)
    base_y = _index_base(ys, ds.sizes[y_dim], ov.index_base)
    if base_x is not None and base_y is not None:
        return xs, ys, base_x
    factor = 1.0
    if x_dim in ds.variables:
        factor = UNIT_FACTORS.get(str(ds[x_dim].attrs.get("units", "m")).strip().lower(), 1.0)
    return xs * factor, ys * factor, None


def _south_up(ds: Any, y_dim: str, ys: Any) -> bool:
    """Whether file row 0 is the southern row: from the y values, or from a 2-D latitude
    when y has no coordinate variable (then cell indices are assumed to count from the
    south, as in DRIAS files, unless the latitude says otherwise)."""
    import numpy as np

    if y_dim in ds.variables:
        return bool(ys[-1] > ys[0])
    for name in ("lat", "latitude", "LAT"):
        if name in ds.variables and y_dim in ds[name].dims and ds[name].ndim == 2:
            lat = np.asarray(ds[name].transpose(y_dim, ...).values, dtype=np.float64)
            return bool(np.nanmean(lat[-1]) > np.nanmean(lat[0]))
    return True


def detect_netcdf(path: Path, ov: GridOverrides) -> GridProfile:
    import numpy as np

    notes: list[str] = []
    with open_netcdf(path) as ds:
        x_dim = _axis_dim(ds, X_NAMES, X_STANDARD, "X", ov.x_dim)
        y_dim = _axis_dim(ds, Y_NAMES, Y_STANDARD, "Y", ov.y_dim)
        if x_dim is None or y_dim is None:
            raise ExtractionError(
                N_("No x/y grid dimensions found in {file} (dimensions: {names}); name "
                   "them with --x-dim/--y-dim"), file=path.name,
                names=[str(d) for d in ds.dims])
        data_vars = [str(n) for n, v in ds.data_vars.items()
                     if x_dim in v.dims and y_dim in v.dims and v.dtype.kind in "fiu"
                     and str(n) not in ("lat", "lon", "latitude", "longitude")]
        if not data_vars:
            raise ExtractionError(N_("No variable on the {x}/{y} grid in {file}"), x=x_dim,
                                  y=y_dim, file=path.name)
        for name in ("lat", "lon", "latitude", "longitude"):
            if name in ds.variables and ds[name].ndim == 2:
                notes.append(f"2-D {name} ignored for georeferencing (1-D {x_dim}/{y_dim} used)")
        xs, ys, base = _axes(ds, x_dim, y_dim, ov)
        south_up = _south_up(ds, y_dim, ys)
        if y_dim not in ds.variables and not south_up:
            ys = ys[::-1].copy()  # generated indices: row 0 is the northern row
        crs, crs_source = _grid_mapping_crs(ds, data_vars)
        if base is not None:
            if ds.sizes[x_dim] > SAFRAN.nx or ds.sizes[y_dim] > SAFRAN.ny or \
                    xs.max() - base >= SAFRAN.nx or ys.max() - base >= SAFRAN.ny:
                raise ExtractionError(
                    N_("{x}/{y} hold cell indices that do not fit the SAFRAN grid "
                       "({nx}x{ny}); the grid cannot be georeferenced"),
                    x=x_dim, y=y_dim, nx=SAFRAN.nx, ny=SAFRAN.ny)
            notes.append(f"{x_dim}/{y_dim} hold {base}-based SAFRAN cell indices, "
                         "georeferenced on the SAFRAN 8 km grid")
            # Index j counts rows from the south: centre = first centre + (j - base) * 8 km.
            xs = SAFRAN_X0 + (xs - base) * SAFRAN.dx
            ys = SAFRAN_Y0 + (ys - base) * SAFRAN.dy
            if crs is None:
                crs, crs_source = SAFRAN.crs, "SAFRAN grid (x/y are its cell indices)"
        if ov.crs:
            from ..profile import normalise_crs

            crs, crs_source = normalise_crs(ov.crs), "given (--crs)"
        if crs is None and _is_lonlat(ds, x_dim) and _is_lonlat(ds, y_dim):
            crs, crs_source = "EPSG:4326", f"{x_dim}/{y_dim} are longitude/latitude"
        if crs is None:
            template = N_("No usable CRS in {file}: {reason}, and {x}/{y} are not "
                          "longitude/latitude; pass --crs")
            if xs.min() >= SAFRAN.x_min and xs.max() <= SAFRAN.x_max and \
                    ys.min() >= SAFRAN.y_min and ys.max() <= SAFRAN.y_max:
                template = N_("No usable CRS in {file}: {reason}, and {x}/{y} are not "
                              "longitude/latitude; pass --crs (the axes fit the SAFRAN "
                              "grid: --crs EPSG:27572)")
            raise ExtractionError(template, file=path.name, reason=crs_source, x=x_dim,
                                  y=y_dim, translated_values=("reason",))
        grid = GridSpec.from_centres(crs, xs, ys)
        if grid is None:
            raise ExtractionError(N_("The {x}/{y} axes of {file} are not regular: a grid "
                                     "with a missing column or row cannot be georeferenced"),
                                  x=x_dim, y=y_dim, file=path.name)
        if south_up:
            notes.append(f"{y_dim} runs south to north; read north-up")
        dims: dict[str, list[str]] = {}
        variables = []
        for name in data_vars:
            var = ds[name]
            lead = [str(d) for d in var.dims if d not in (x_dim, y_dim)]
            for dim in lead:
                if dim not in dims:
                    if dim in ds.variables:
                        dims[dim] = [format_label(v) for v in np.asarray(ds[dim].values)]
                    else:
                        dims[dim] = [str(i) for i in range(ds.sizes[dim])]
            variables.append(GridVariable(name, lead, str(var.attrs.get("units", "")),
                                          str(var.attrs.get("long_name", "")
                                              or var.attrs.get("standard_name", ""))))
    return GridProfile("netcdf", crs, crs_source, grid, variables, dims, x_dim=x_dim,
                       y_dim=y_dim, y_south_up=south_up, index_base=base, notes=notes)


class NetcdfSource:
    """Reads layers of a NetCDF variable, north-up, as float64 with NaN for missing."""

    def __init__(self, path: Path, profile: GridProfile) -> None:
        self.path, self.profile = path, profile
        import xarray as xr

        try:
            self.ds = xr.open_dataset(path, decode_times=False)
        except Exception as exc:
            raise ExtractionError(N_("Cannot read {file} as NetCDF: {reason}"), file=path.name,
                                  reason=exc) from exc

    def close(self) -> None:
        self.ds.close()

    def read(self, name: str, start: int, stop: int, window: tuple[int, int, int, int]) -> Any:
        """Layers ``start:stop`` (flattened non-spatial index, C order) of ``name`` over the
        north-up window (row0, row1, col0, col1): array (stop - start, rows, cols)."""
        import numpy as np

        p = self.profile
        var = self.profile.variable(name)
        da = self.ds[name].transpose(*var.dims, p.y_dim, p.x_dim)
        r0, r1, c0, c1 = window
        ny = p.grid.ny
        rows = slice(ny - r1, ny - r0) if p.y_south_up else slice(r0, r1)
        sel: dict[str, Any] = {p.y_dim: rows, p.x_dim: slice(c0, c1)}
        if var.dims:
            inner = 1
            for dim in var.dims[1:]:
                inner *= self.ds.sizes[dim]
            i0, i1 = start // inner, -(-stop // inner)
            sel[var.dims[0]] = slice(i0, i1)
            block = np.asarray(da.isel(sel).values, dtype=np.float64)
            block = block.reshape(-1, block.shape[-2], block.shape[-1])
            block = block[start - i0 * inner: stop - i0 * inner]
        else:
            block = np.asarray(da.isel(sel).values, dtype=np.float64)[None]
        if p.y_south_up:
            block = block[:, ::-1, :]
        return block
