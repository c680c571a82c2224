"""The ``dataclic`` console script: extract a file for a territory, or show its profile.

Imports stay inside the commands so that ``dataclic --help`` starts at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click


class _ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        pct = min(100, int(done * 100 / total))
        if pct == self.last:
            return
        self.last = pct
        filled = pct * 30 // 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.last >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@contextmanager
def _reporting_errors(bar: _ProgressBar | None = None) -> Iterator[None]:
    """Every command's handling of bad input: the progress bar ends, the first line of the
    engine's message goes to stderr, exit status 2."""
    from .errors import ExtractionError

    try:
        yield
    except ExtractionError as exc:
        if bar is not None:
            bar.end()
        _fail(str(exc).splitlines()[0] if str(exc) else "extraction failed")
    if bar is not None:
        bar.end()


def _slice(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError:
        _fail("--code-slice takes START:STOP, e.g. 0:5")
    return start, stop


def _overrides(**kw: Any) -> Any:
    from .profile import ProfileOverrides

    return ProfileOverrides(
        code_column=kw.get("code_column"), code_slice=_slice(kw.get("code_slice")),
        lat_column=kw.get("lat"), lon_column=kw.get("lon"), point_column=kw.get("point_column"),
        wkt_column=kw.get("wkt_column"), crs=kw.get("crs"), layer=kw.get("layer"),
        encoding=kw.get("encoding"), delimiter=kw.get("delimiter"),
    )


def _referential() -> Any:
    from .engine import default_referential

    return default_referential()


def _resolve(perimeter: str, use_cache: bool) -> tuple[Any, Any]:
    """(referential, perimeter), from the perimeter cache when possible."""
    from . import perimeter_cache
    from .errors import ExtractionError

    if use_cache:
        hit = perimeter_cache.load(perimeter.strip())
        if hit is not None:
            return hit
    ref = _referential()
    try:
        target = ref.resolve(perimeter.strip())
    except ValueError as exc:
        raise ExtractionError(str(exc)) from exc
    if use_cache:
        perimeter_cache.store(ref, target, alias=perimeter.strip())
    return ref, target


_profile_options = [
    click.option("--layer", help="Layer to read (GeoPackage); default the first."),
    click.option("--code-column", help="Column holding the commune code."),
    click.option("--code-slice", help="Characters of the code column that form the code, "
                                      "START:STOP (e.g. 0:5 for Météo-France NUM_POSTE)."),
    click.option("--lat", help="Latitude (or y) column."),
    click.option("--lon", help="Longitude (or x) column."),
    click.option("--point-column", help="Column holding 'lat, lon' text (Opendatasoft Geo point)."),
    click.option("--wkt-column", help="Column holding WKT geometries."),
    click.option("--crs", help="CRS of the input coordinates (e.g. EPSG:2154), overriding the file."),
    click.option("--encoding", help="Text encoding of a CSV input (detected when absent)."),
    click.option("--delimiter", help="Delimiter of a CSV input (detected when absent)."),
]


def _with_profile_options(func: Any) -> Any:
    for option in reversed(_profile_options):
        func = option(func)
    return func


class _NoPandas:
    """A meta-path finder that reports pandas and geopandas as not installed."""

    names = ("pandas", "geopandas")

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _skip_pandas() -> None:
    """The console script never needs pandas, but pyogrio and pyarrow import it when they
    find it (0.5–1 s of start-up, more than a small extraction takes). Hiding it from this
    process keeps start-up short; library callers (CKAN) are not affected."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


_grid_options = [
    click.option("--variables", help="Grid variables to use, comma-separated (default all)."),
    click.option("--labels", "labels", multiple=True, metavar="DIM=LABEL[,LABEL…]",
                 help="Grid: keep only these labels of a dimension, e.g. horizon=H2,H3 "
                      "(repeatable; default every label)."),
    click.option("--threshold", type=float,
                 help="Grid stats: also give the share of the area above / below this value."),
    click.option("--wide", is_flag=True,
                 help="Grid stats: one CSV row per commune, one column per value."),
    click.option("--x-dim", help="Grid: name of the x dimension of a NetCDF file."),
    click.option("--y-dim", help="Grid: name of the y dimension of a NetCDF file."),
]


def _with_grid_options(func: Any) -> Any:
    for option in reversed(_grid_options):
        func = option(func)
    return func


def _unhide_pandas() -> None:
    """xarray needs pandas: grid commands undo :func:`_skip_pandas`."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NoPandas)]


def _grid_overrides(**kw: Any) -> Any:
    from .grid.profile import GridOverrides
    from .grid.selection import parse_labels

    names = [v.strip() for v in (kw.get("variables") or "").split(",") if v.strip()]
    return GridOverrides(crs=kw.get("crs"), variables=names or None, x_dim=kw.get("x_dim"),
                         y_dim=kw.get("y_dim"),
                         labels=parse_labels(kw.get("labels") or ()) or None)


def _extract_grid(input_path: Path, perimeter: str, output: Path, mode: str | None,
                  output_format: str | None, out_delimiter: str, report_path: Path | None,
                  profile_path: Path | None, no_cache: bool, **kw: Any) -> None:
    _unhide_pandas()
    from .errors import ExtractionError
    from .grid.engine import extract_grid
    from .grid.profile import GridProfile, is_grid_file

    bar = _ProgressBar()
    with _reporting_errors(bar):
        if not is_grid_file(input_path):
            raise ExtractionError(f"The stats mode needs a grid (NetCDF, GeoTIFF or DRIAS "
                                  f"text); {input_path.name} is not one")
        if mode not in (None, "stats", "clip"):
            raise ExtractionError(f"{input_path.name} is a grid: --mode is stats or clip")
        profile = None
        if profile_path is not None:
            try:
                profile = GridProfile.from_dict(json.loads(profile_path.read_text("utf-8")))
            except (OSError, ValueError, KeyError) as exc:
                raise ExtractionError(f"Cannot read the grid profile: {exc}") from exc
        ref, target = _resolve(perimeter, not no_cache)
        result = extract_grid(input_path, target, output, referential=ref,
                              mode=mode or "stats", output_format=output_format,
                              profile=profile, overrides=_grid_overrides(**kw),
                              threshold=kw.get("threshold"), wide=bool(kw.get("wide")),
                              delimiter=out_delimiter, progress=bar)
    _print_result(result, report_path)


def _print_result(result: Any, report_path: Path | None) -> None:
    for line in result.report.summary_lines():
        click.echo(line)
    click.echo(f"written: {result.output}")
    if report_path is not None:
        try:
            report_path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2),
                                   encoding="utf-8")
        except OSError as exc:
            _fail(f"Cannot write the report: {exc.strerror}")


@click.group()
def main() -> None:
    """Cut national open-data files to a French territory (dataclic)."""
    _skip_pandas()


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-t", "--territory", "perimeter", required=True,
              help="Perimeter, e.g. epci:243300316, departement:33, commune:33063.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output file; its extension gives the format unless --format is set.")
@click.option("--mode", type=click.Choice(["filter", "intersects", "clip", "stats"]),
              help="filter by commune code, or select (intersects) / cut (clip) by geometry; "
                   "for a grid (NetCDF, GeoTIFF, DRIAS text): stats (per commune) or clip.")
@click.option("--format", "output_format",
              type=click.Choice(["csv", "geojson", "gpkg", "shp", "parquet", "nc", "tif"]))
@click.option("--out-crs", default="EPSG:4326", show_default=True, help="Output CRS.")
@click.option("--out-delimiter", default=";", show_default=True, help="CSV output delimiter.")
@click.option("--enrich", is_flag=True,
              help="Add commune, EPCI, département and région columns.")
@click.option("--report", "report_path", type=click.Path(path_type=Path),
              help="Also write the report as JSON to this file.")
@click.option("--profile", "profile_path", type=click.Path(path_type=Path),
              help="Use a stored profile (JSON) instead of detecting one.")
@click.option("--index-dir", type=click.Path(path_type=Path),
              help="Folder of the code index (default: next to INPUT).")
@click.option("--no-index", is_flag=True, help="Scan the file even if an index exists.")
@click.option("--no-cache", is_flag=True,
              help="Load the referential instead of the perimeter cache "
                   "($DATACLIC_CACHE_DIR, default ~/.cache/dataclic).")
@_with_profile_options
@_with_grid_options
def extract(input_path: Path, perimeter: str, output: Path, mode: str | None,
            output_format: str | None, out_crs: str, out_delimiter: str, enrich: bool,
            report_path: Path | None, profile_path: Path | None, index_dir: Path | None,
            no_index: bool, no_cache: bool, **kw: Any) -> None:
    """Extract the rows of INPUT that belong to a territory (or, for a grid, per-commune
    statistics or a clip)."""
    from .grid.profile import is_grid_file

    if is_grid_file(input_path) or mode == "stats":
        _extract_grid(input_path, perimeter, output, mode, output_format, out_delimiter,
                      report_path, profile_path, no_cache, **kw)
        return
    from .engine import extract as run_extract
    from .errors import ExtractionError
    from .profile import ExtractionProfile

    bar = _ProgressBar()
    with _reporting_errors(bar):
        ref, target = _resolve(perimeter, not no_cache)
        profile = None
        if profile_path is not None:
            try:
                profile = ExtractionProfile.from_json(profile_path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ExtractionError(f"Cannot read the profile: {exc.strerror}") from exc
        overrides = _overrides(**kw)
        result = run_extract(input_path, target, output, referential=ref, mode=mode,
                             output_format=output_format, profile=profile,
                             overrides=overrides if any(vars(overrides).values()) else None,
                             enrich=enrich, out_crs=out_crs, delimiter=out_delimiter,
                             progress=bar, use_index=not no_index, index_dir=index_dir)
    _print_result(result, report_path)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(path_type=Path),
              help="Folder for the index (default: next to INPUT).")
@click.option("--kind", type=click.Choice(["code", "points"]),
              help="code (rows by commune code) or points (lat/lon grid); by default code "
                   "when the file has a code column.")
@_with_profile_options
def index(input_path: Path, index_dir: Path | None, kind: str | None, **kw: Any) -> None:
    """Build the code index of a CSV file, so that later extractions read only the rows
    they need. Rebuild it when the file changes (a stale index is ignored)."""
    from .engine import build_index

    bar = _ProgressBar()
    with _reporting_errors(bar):
        overrides = _overrides(**kw)
        folder, meta = build_index(input_path, referential=_referential(),
                                   overrides=overrides if any(vars(overrides).values())
                                   else None, index_dir=index_dir, progress=bar, kind=kind)
    click.echo(f"indexed {meta['rows']} rows in {meta['build_s']:.2f} s: {folder}")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_with_profile_options
@_with_grid_options
def profile(input_path: Path, **kw: Any) -> None:
    """Print the detected extraction profile of INPUT as JSON."""
    from .grid.profile import is_grid_file
    from .profile import detect_profile

    if is_grid_file(input_path):
        _unhide_pandas()
        from .grid.profile import detect_grid_profile

        with _reporting_errors():
            found_grid = detect_grid_profile(input_path, _grid_overrides(**kw))
        click.echo(found_grid.to_json(indent=2))
        return
    with _reporting_errors():
        found = detect_profile(input_path, _referential(), _overrides(**kw))
    click.echo(found.to_json(indent=2))


if __name__ == "__main__":
    main()
