"""Cut a national file to a perimeter: the extraction entry point.

One module past 400 lines on purpose: ``_Run`` holds one extraction's state (profile,
perimeter, code classifier, sink, counters, progress) that each of its paths (CSV filter,
Arrow layers, CSV points) reads and updates; split apart, they would pass that state around.
Readers, writers, code and point indexes, reports live in their own modules.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from .codes import CodeClassifier, Referential, code_key, key_code
from .errors import N_, ExtractionError
from .profile import ExtractionProfile, ProfileOverrides, detect_profile, normalise_crs
from .report import ExtractionReport
from .sniff import read_csv_layout
from .writers import Batch, format_from_path, open_sink, remove_quietly, temporary_path

MODES = ("filter", "intersects", "clip")
ENRICH_COLUMNS = ("commune_code", "commune_name", "epci_siren", "epci_name",
                  "departement_code", "region_code")
WGS84 = "EPSG:4326"
Progress = Callable[[int, int], None]


class PerimeterLike(Protocol):
    id: str
    name: str

    @property
    def codes(self) -> frozenset[str]: ...

    @property
    def geometry(self) -> Any: ...


@dataclass
class ExtractionResult:
    output: Path
    profile: ExtractionProfile
    report: ExtractionReport

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "profile": self.profile.to_dict(),
                "report": self.report.to_dict()}


def default_referential() -> Any:
    try:
        from ckanext.dataclic.territories import Referential as TerritoryReferential
    except ImportError as exc:
        raise ExtractionError(N_("The territory referential is not installed")) from exc
    return TerritoryReferential.default()


def extract(
    source: str | Path,
    perimeter: PerimeterLike,
    destination: str | Path,
    *,
    referential: Referential | None = None,
    mode: str | None = None,
    output_format: str | None = None,
    profile: ExtractionProfile | None = None,
    overrides: ProfileOverrides | None = None,
    enrich: bool = False,
    out_crs: str | int = WGS84,
    delimiter: str = ";",
    progress: Progress | None = None,
    use_index: bool = True,
    index_dir: str | Path | None = None,
) -> ExtractionResult:
    """Extract the rows of ``source`` that belong to ``perimeter`` into ``destination``.

    The output appears under its final name only when complete. Bad input raises
    :class:`ExtractionError` with a one-line message. A CSV code index built by
    :func:`build_index` for this file version is used when present (``use_index``).
    """
    started = time.perf_counter()
    source, destination = Path(source), Path(destination)
    ref = referential if referential is not None else default_referential()
    fmt = format_from_path(destination, output_format)
    if destination.is_dir():
        raise ExtractionError(N_("The output {path} is a folder"), path=destination)
    if not destination.parent.is_dir():
        raise ExtractionError(N_("The output folder {path} does not exist"),
                              path=destination.parent)
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if delimiter not in (";", ",", "\t", "|"):
        raise ExtractionError(N_("The output delimiter must be ';', ',', tab or '|'"))
    if source.resolve() == destination.resolve():
        raise ExtractionError(N_("The output would overwrite the input"))
    from .archive import data_file, data_member

    if data_member(source) is not None:
        # A data file zipped by its publisher: extract from an unpacked copy.
        with data_file(source) as (unpacked, member):
            result = extract(unpacked, perimeter, destination, referential=ref, mode=mode,
                             output_format=output_format, profile=profile,
                             overrides=overrides, enrich=enrich, out_crs=out_crs,
                             delimiter=delimiter, progress=progress, use_index=False)
        result.profile = replace(result.profile, archive_member=member)
        result.report.bytes_read = source.stat().st_size
        result.report.elapsed_s = round(time.perf_counter() - started, 3)
        return result
    folder = Path(index_dir) if index_dir else source.parent
    if profile is None and use_index and overrides is None and (
            folder / (source.name + ".dataclic-index")).is_dir():
        from .index import fresh_index_meta

        meta = fresh_index_meta(source, Path(index_dir) if index_dir else None)
        if meta is not None:
            profile = ExtractionProfile.from_dict(meta["profile"])
    if profile is None:
        profile = detect_profile(source, ref, overrides)
    elif overrides is not None:
        from .profile import _apply_overrides

        profile = _apply_overrides(profile, overrides)
    mode = mode or profile.default_mode()
    if mode not in MODES:
        raise ExtractionError(N_("Unknown mode {mode}; choose one of {modes}"), mode=repr(mode),
                              modes=MODES)
    if mode == "filter" and not profile.has_code:
        raise ExtractionError(N_(
            "No commune-code column found for the filter mode; name the commune-code column "
            "(--code-column), or choose the intersects or clip mode on a file with geometry"))
    if mode != "filter" and not profile.has_geometry:
        raise ExtractionError(N_(
            "The {mode} mode needs geometry; none was found in this file (name its latitude "
            "and longitude columns: --lat/--lon)"), mode=mode)
    if profile.has_geometry or not str(out_crs).upper().startswith("EPSG:"):
        out_crs = normalise_crs(out_crs)
    else:
        # No geometry is written: spare the pyproj import (start-up time of the CLI).
        out_crs = str(out_crs).upper()
    report = ExtractionReport(perimeter=perimeter.id, mode=mode, output_format=fmt,
                              output_crs=out_crs, enriched=enrich)
    if profile.header_width and profile.data_width and profile.header_width != profile.data_width:
        report.warn(f"the header has {profile.header_width} fields but rows have "
                    f"{profile.data_width}")
    run = _Run(source, perimeter, ref, profile, mode, fmt, enrich, out_crs, delimiter,
               progress, report)
    run.index_dir = Path(index_dir) if index_dir else None
    run.use_index = use_index
    tmp = temporary_path(destination)
    sink = open_sink(fmt, tmp, destination, delimiter=delimiter, crs=out_crs,
                     with_geometry=run.output_has_geometry)
    try:
        if profile.format == "csv" and mode == "filter":
            run.csv_filter(sink)
        else:
            run.arrow(sink)
        run.finish()
        sink.close(run.output_columns())
        os.replace(tmp, destination)
    except BaseException as exc:
        _close_quietly(sink)
        remove_quietly(tmp)
        if isinstance(exc, (ExtractionError, KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(exc, OSError):
            raise ExtractionError(N_("Input/output error: {reason}"),
                                  reason=exc.strerror or exc) from exc
        if isinstance(exc, MemoryError):
            raise ExtractionError(N_("Out of memory while extracting")) from exc
        raise ExtractionError(N_("Extraction failed: {reason}"), reason=exc) from exc
    report.bytes_read = source.stat().st_size
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return ExtractionResult(destination, profile, report)


def _close_quietly(sink: Any) -> None:
    try:
        if hasattr(sink, "discard"):
            sink.discard()
        fh = getattr(sink, "fh", None)
        if fh is not None:
            fh.close()
        writer = getattr(sink, "writer", None)
        if writer is not None and hasattr(writer, "close"):
            writer.close()
    except Exception:  # noqa: BLE001, S110 - best effort; the real error is re-raised
        pass


class _Run:
    def __init__(self, source: Path, perimeter: PerimeterLike, ref: Referential,
                 profile: ExtractionProfile, mode: str, fmt: str, enrich: bool, out_crs: str,
                 delimiter: str, progress: Progress | None, report: ExtractionReport) -> None:
        self.source = source
        self.perimeter = perimeter
        self.ref = ref
        self.profile = profile
        self.mode = mode
        self.fmt = fmt
        self.enrich = enrich
        self.out_crs = out_crs
        self.delimiter = delimiter
        self.progress = progress
        self.report = report
        self.classifier = CodeClassifier(ref, frozenset(perimeter.codes),
                                         getattr(perimeter, "communes", None))
        self.unknown: Counter[str] = Counter()
        self.out_of_range = 0
        self._communes_tree: Any = None
        self.index_dir: Path | None = None
        self.use_index = True
        if profile.geometry == "native":
            # CSV has no geometry column of its own: add the geometry as WKT.
            self.output_has_geometry = True
        else:
            self.output_has_geometry = profile.has_geometry and fmt != "csv"
        if enrich:
            report.enrichment_method = (
                "commune code" if profile.has_code else "point in commune (perimeter communes)")

    def output_columns(self) -> list[str]:
        cols = [c for c in self.profile.columns
                if not (self.profile.geometry == "native" and c == self.profile.geometry_column)]
        return cols + (list(ENRICH_COLUMNS) if self.enrich else [])

    # -- CSV, filter by code: raw byte scan ---------------------------------------------
    def csv_filter(self, sink: Any) -> None:
        from .csvscan import filter_csv_by_code

        p = self.profile
        columns = list(p.columns)
        code_index = columns.index(p.code_column)
        encoding = (p.encoding or "utf-8").replace("-sig", "")
        raw = (self.fmt == "csv" and not self.enrich and p.delimiter == self.delimiter
               and encoding in ("utf-8", "ascii") and not self.output_has_geometry)
        index = None
        if self.use_index:
            from .index import load_csv_index

            index = load_csv_index(self.source, p, self.index_dir)
        if index is not None:
            from .index import filter_with_index

            self.report.index_used = True
            chunks = filter_with_index(self.source, index, self.classifier, self.report,
                                       self.progress)
        else:
            layout = read_csv_layout(self.source, p.encoding, p.delimiter)
            chunks = filter_csv_by_code(
                self.source, data_offset=layout.data_offset, delimiter=p.delimiter or ",",
                code_index=code_index, header_width=p.header_width or len(layout.header),
                code_slice=p.code_slice, classifier=self.classifier, report=self.report,
                progress=self.progress,
            )
        for chunk in chunks:
            self.report.rows_kept += len(chunk.records)
            self.report.rows_remapped += self.classifier.count_former(chunk.codes)
            if raw:
                sink.write_raw(columns, chunk.records)
                continue
            text = b"".join(chunk.records).decode(encoding, errors="replace")
            rows = list(csv.reader(io.StringIO(text), delimiter=p.delimiter or ","))
            width = len(columns)
            rows = [r[:width] + [""] * (width - len(r)) for r in rows if r]
            batch = Batch(columns=columns, rows=rows)
            if self.enrich:
                batch.extra = self.enrichment(chunk.codes)
            if self.output_has_geometry:
                batch.geometries = self.geometries_for_rows(batch)
            sink.write(batch)

    def geometries_for_rows(self, batch: Batch) -> Any:
        from .readers import attach_geometry
        from .spatial import reproject

        sb = attach_geometry(batch.as_table(), self.profile)
        geoms = self._geometries(sb)
        return reproject(geoms, self.profile.crs or WGS84, self.out_crs)

    def _geometries(self, sb: Any) -> Any:
        import numpy as np
        import shapely

        if sb.geometries is not None:
            return sb.geometries
        if sb.x is not None:
            ok = ~(np.isnan(sb.x) | np.isnan(sb.y))
            out = np.full(sb.x.shape[0], None, dtype=object)
            out[ok] = shapely.points(sb.x[ok], sb.y[ok])
            return out
        return np.full(sb.table.num_rows, None, dtype=object)

    # -- every other case: Arrow batches -------------------------------------------------
    def arrow(self, sink: Any) -> None:
        import numpy as np

        from .readers import (
            read_csv_batches,
            read_json_records,
            read_ogr_batches,
            read_parquet_batches,
        )
        from .spatial import SpatialSelection, reproject

        p = self.profile
        src_crs = p.crs or WGS84
        selection = None
        bbox = None
        if self.mode != "filter":
            # A perimeter from the console script's cache keeps its geometry in the CRSs
            # it was used in: no coordinate transformation to set up.
            stored = getattr(self.perimeter, "geometry_in", None)
            selection = SpatialSelection(self.perimeter.geometry, src_crs,
                                         stored(src_crs) if stored else None)
            bbox = selection.bounds
            if self.use_index and p.format == "csv" and p.geometry in ("latlon", "point_text"):
                from .pointindex import load_points_index

                found = load_points_index(self.source, p, self.index_dir)
                if found is not None:
                    from .pointindex import points_with_index

                    self.report.index_used = True
                    self.points_output(sink, points_with_index(
                        self.source, *found, selection, self.report, self.progress))
                    return
            if p.format == "csv" and p.geometry in ("latlon", "point_text"):
                self.points_output(sink, self.csv_points(selection))
                return
        mismatched = [0]
        if p.format == "csv":
            batches = read_csv_batches(self.source, p, self.progress, mismatched)
        elif p.format == "json":
            batches = read_json_records(self.source, p, self.progress)
        elif p.format == "parquet":
            batches = read_parquet_batches(self.source, p, self.progress)
        else:
            batches = read_ogr_batches(self.source, p, bbox if p.geometry == "native" else None,
                                       self.progress)
        columns = [c for c in self.output_columns() if c not in ENRICH_COLUMNS or not self.enrich]
        for sb in batches:
            n = sb.table.num_rows
            self.report.rows_read += n
            if n == 0:
                continue
            xy = sb.x is not None
            if p.has_geometry:
                missing = self._missing_geometry(sb, src_crs)
                self.report.rows_without_geometry += int(missing.sum())
            codes = None
            if self.mode == "filter":
                mask, codes = self.code_mask(sb.table.column(p.code_column))
            elif xy:
                mask = selection.mask_xy(sb.x, sb.y)
            else:
                geoms = sb.geometries
                mask, geoms, repaired = selection.mask_geometries(geoms)
                sb.geometries = geoms
                self.report.geometries_repaired += repaired
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            table = sb.table.take(idx)
            geoms = None
            points_wkb = None
            if p.has_geometry:
                if xy and sb.points_wkb is not None and self.mode != "clip" and (
                        not self.enrich and src_crs == self.out_crs):
                    # The source's point WKB is what would be written: pass it through.
                    points_wkb = sb.points_wkb.take(idx)
                elif xy:
                    import shapely

                    geoms = shapely.points(sb.x[idx], sb.y[idx])
                else:
                    geoms = sb.geometries[idx]
                if self.mode == "clip":
                    geoms = selection.clip(geoms)
                    keep = np.array([g is not None for g in geoms], dtype=bool)
                    if not keep.all():
                        table = table.take(np.flatnonzero(keep))
                        geoms = geoms[keep]
                        idx = idx[keep]
                        if codes is not None:
                            codes = [c for c, k in zip(codes, keep, strict=True) if k]
            if codes is None and p.has_code and self.enrich:
                _, all_codes = self.code_mask(table.column(p.code_column), count=False)
                codes = all_codes
            self.report.rows_kept += table.num_rows
            if codes is not None and self.mode == "filter":
                self.report.rows_remapped += self.classifier.count_former(
                    [c for c in codes if c])
            batch = Batch(columns=columns, table=table)
            if self.enrich:
                if codes is None:
                    codes = self.codes_by_location(geoms, src_crs)
                batch.extra = self.enrichment(codes)
            if self.output_has_geometry or self.fmt == "csv" and p.geometry == "native":
                if points_wkb is not None:
                    batch.points_wkb = points_wkb
                else:
                    batch.geometries = reproject(geoms, src_crs, self.out_crs)
            sink.write(batch)
        if mismatched[0]:
            self.report.rows_field_count_mismatch += mismatched[0]
            self.report.warn(f"{mismatched[0]} rows whose field count differs from the header "
                             "were skipped")

    def csv_points(self, selection: Any) -> Any:
        """(records, x, y) of the CSV points inside the perimeter, from a raw byte scan."""
        from .csvpoints import filter_csv_points
        from .spatial import valid_bounds

        p = self.profile
        columns = list(p.columns)
        layout = read_csv_layout(self.source, p.encoding, p.delimiter)
        counters: dict[str, int] = {}

        def index(name: str | None) -> int | None:
            return columns.index(name) if name else None

        yield from filter_csv_points(
            self.source, data_offset=layout.data_offset, delimiter=p.delimiter or ",",
            header_width=p.header_width or len(layout.header),
            lat_index=index(p.lat_column), lon_index=index(p.lon_column),
            point_index=index(p.point_column) if p.geometry == "point_text" else None,
            selection=selection, limits=valid_bounds(p.crs or WGS84), report=self.report,
            counters=counters, progress=self.progress)
        self.out_of_range += counters.get("out_of_range", 0)

    def points_output(self, sink: Any, chunks: Any) -> None:
        """Write (records, x, y) chunks of CSV points: the records verbatim when the output
        is the same CSV, else parsed and given their point geometry."""
        import shapely

        from .spatial import reproject

        p = self.profile
        src_crs = p.crs or WGS84
        columns = list(p.columns)
        encoding = (p.encoding or "utf-8").replace("-sig", "")
        raw = (self.fmt == "csv" and not self.enrich and p.delimiter == self.delimiter
               and encoding in ("utf-8", "ascii"))
        for records, x, y in chunks:
            self.report.rows_kept += len(records)
            if raw:
                sink.write_raw(columns, records)
                continue
            text = b"".join(records).decode(encoding, errors="replace")
            rows = list(csv.reader(io.StringIO(text), delimiter=p.delimiter or ","))
            width = len(columns)
            rows = [r[:width] + [""] * (width - len(r)) for r in rows if r]
            batch = Batch(columns=columns, rows=rows)
            geoms = shapely.points(x, y)
            if self.enrich:
                if p.has_code:
                    k = columns.index(p.code_column)
                    codes: list[str | None] = []
                    for r in rows:
                        value = r[k][p.code_slice[0]:p.code_slice[1]] if p.code_slice else r[k]
                        key, known, norm = self.classifier.classify_text(value)
                        codes.append(key_code(key) if key >= 0 else (norm if known else None))
                else:
                    codes = self.codes_by_location(geoms, src_crs)
                batch.extra = self.enrichment(codes)
            if self.output_has_geometry:
                batch.geometries = reproject(geoms, src_crs, self.out_crs)
            sink.write(batch)

    def _missing_geometry(self, sb: Any, crs: str) -> Any:
        import numpy as np

        if sb.x is not None:
            from .spatial import valid_bounds

            bad = np.isnan(sb.x) | np.isnan(sb.y)
            limits = valid_bounds(crs)
            if limits is not None:
                minx, miny, maxx, maxy = limits
                with np.errstate(invalid="ignore"):
                    out = ~bad & ((sb.x < minx) | (sb.x > maxx) | (sb.y < miny)
                                  | (sb.y > maxy))
                if out.any():
                    self.out_of_range += int(out.sum())
                    sb.x = np.where(out, np.nan, sb.x)
                    sb.y = np.where(out, np.nan, sb.y)
                    bad = bad | out
            return bad
        if sb.geometries is not None:
            import shapely

            return shapely.is_missing(sb.geometries) | shapely.is_empty(sb.geometries)
        return np.zeros(sb.table.num_rows, dtype=bool)

    def code_mask(self, column: Any, count: bool = True) -> tuple[Any, list[str]]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        enc = pc.dictionary_encode(column)
        values = enc.dictionary.to_pylist()
        cut = self.profile.code_slice
        inside = np.zeros(len(values) + 1, dtype=bool)
        known = np.zeros(len(values) + 1, dtype=bool)
        normed: list[str] = []
        for i, v in enumerate(values):
            value = v[cut[0]:cut[1]] if cut else v
            key, is_known, norm = self.classifier.classify_text(value)
            code = key_code(key) if key >= 0 else norm
            inside[i] = self.classifier.is_inside_text(code, key)
            known[i] = is_known
            normed.append(code)
        normed.append("")
        idx = enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
        mask = inside[idx]
        if count:
            unknown = ~known[idx]
            n_unknown = int(unknown.sum())
            if n_unknown:
                self.report.rows_unknown_code += n_unknown
                u, c = np.unique(idx[unknown], return_counts=True)
                for ui, ci in zip(u.tolist(), c.tolist(), strict=True):
                    raw = values[ui] if ui < len(values) else ""
                    self.unknown[(raw or "").strip()] += ci
        kept_codes = [normed[i] for i in idx[mask].tolist()] if count else [
            normed[i] for i in idx.tolist()]
        return mask, kept_codes

    def enrichment(self, codes: list[str | None]) -> dict[str, list[Any]]:
        cols: dict[str, list[Any]] = {c: [] for c in ENRICH_COLUMNS}
        for code in codes:
            com = self.classifier.commune(code) if code else None
            cols["commune_code"].append(com.code if com else None)
            cols["commune_name"].append(com.name if com else None)
            cols["epci_siren"].append(getattr(com, "epci_siren", None) if com else None)
            cols["epci_name"].append(getattr(com, "epci_name", None) if com else None)
            cols["departement_code"].append(getattr(com, "departement_code", None)
                                            if com else None)
            cols["region_code"].append(getattr(com, "region_code", None) if com else None)
        return cols

    def codes_by_location(self, geoms: Any, crs: str) -> list[str | None]:
        """Commune of each feature's representative point, among the perimeter's communes."""
        import numpy as np
        import shapely

        from .spatial import reproject

        if self._communes_tree is None:
            resolve = getattr(self.ref, "resolve", None)
            communes = getattr(self.perimeter, "communes", None)
            shapes, names = [], []
            if resolve is not None and communes:
                batch = getattr(self.ref, "commune_contours", None)
                if batch is not None:
                    batch(communes)  # one read for all of them, then cached
                for c in communes:
                    try:
                        shapes.append(resolve(f"commune:{c}").geometry)
                        names.append(c)
                    except ValueError:
                        continue
            if not shapes:
                self.report.warn("no commune geometry available: enrichment left empty")
            self._communes_tree = (shapely.STRtree(shapes), names)
        tree, names = self._communes_tree
        if not names or geoms is None or len(geoms) == 0:
            return [None] * (0 if geoms is None else len(geoms))
        pts = shapely.point_on_surface(reproject(np.asarray(geoms), crs, WGS84))
        hits = tree.query(pts, predicate="intersects")
        out: list[str | None] = [None] * len(pts)
        for i, j in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
            if out[i] is None:
                out[i] = names[j]
        return out

    def finish(self) -> None:
        self.report.add_unknown(self.unknown)
        r = self.report
        if self.out_of_range and r.rows_without_geometry >= r.rows_read:
            raise ExtractionError(N_(
                "All {rows} coordinates are out of range for {crs}; give the right "
                "coordinate reference system (--crs)"), rows=r.rows_read, crs=self.profile.crs)
        if self.out_of_range:
            r.warn(f"{self.out_of_range} rows have coordinates out of range for "
                   f"{self.profile.crs}")
        if r.rows_read == 0:
            r.warn("the input holds no data rows")
        elif r.rows_kept == 0:
            r.warn(f"no row matched the perimeter {self.perimeter.id}")
        if r.rows_field_count_mismatch and not r.warnings:
            r.warn(f"{r.rows_field_count_mismatch} rows whose field count differs from the "
                   "header")
        _ = code_key  # keys are shared with the CSV scan


def build_index(
    source: str | Path,
    *,
    referential: Referential | None = None,
    profile: ExtractionProfile | None = None,
    overrides: ProfileOverrides | None = None,
    index_dir: str | Path | None = None,
    progress: Progress | None = None,
    kind: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the index of a CSV file (once per file version); returns its folder and
    metadata (rows, build time). ``kind`` is ``code`` (default when the file has a code
    column) or ``points`` (default for lat/lon files)."""
    from .index import build_csv_index
    from .pointindex import build_points_index

    source = Path(source)
    from .archive import data_member

    if data_member(source) is not None:
        raise ExtractionError(N_("Indexes are built on plain files: unzip {name} first"),
                              name=source.name)
    ref = referential if referential is not None else default_referential()
    if profile is None:
        profile = detect_profile(source, ref, overrides)
    if kind is None:
        kind = "code" if profile.has_code else "points"
    if kind not in ("code", "points"):
        raise ExtractionError(N_("Unknown index kind {kind}; choose code or points"),
                              kind=repr(kind))
    folder = Path(index_dir) if index_dir else None
    classifier = CodeClassifier(ref, frozenset())
    if profile.format == "csv" and kind == "code" and profile.has_code:
        return build_csv_index(source, profile, classifier, folder, progress)
    if profile.format == "csv" and kind == "points" and profile.geometry in (
            "latlon", "point_text"):
        return build_points_index(source, profile, folder, progress)
    raise ExtractionError(N_(
        "Indexes are built for CSV files with a commune-code column (code) or coordinate "
        "columns (points); GeoPackage and FlatGeobuf already have a spatial index"))
