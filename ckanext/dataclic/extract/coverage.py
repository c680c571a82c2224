"""What part of France a file covers, recorded once per file version (no CKAN import).

A coverage answers "does this file have rows for that territory, and about how many?"
without running an extraction. It holds:

- ``rows``: rows (features) read;
- ``rows_with_code`` / ``rows_odd_code``: rows whose code has a key (five characters, or
  four digits), rows whose non-empty code has none;
- ``communes``: the set of commune-code keys met in the code column, as a compressed
  bitmap over :data:`codes.KEY_SPACE` (at most ~13 kB even for a national file; a few
  hundred bytes for one département), with ``communes_count``;
- ``departements``: rows per département of those codes (at most ~110 entries);
- ``bbox``: the extent ``[west, south, east, north]`` in WGS 84, for files with geometry.

:func:`estimate_rows` answers for a perimeter: 0 when none of its codes is in the file
(exact; unless some codes are written in a form without a key), else the rows of each
département scaled by the share of its codes present in the
file that the perimeter holds (an estimate); :func:`bbox_disjoint` tells a perimeter that
lies outside the file's extent.
"""

from __future__ import annotations

import base64
import itertools
import math
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .codes import KEY_SPACE, code_key, key_code
from .profile import ExtractionProfile

COVERAGE_VERSION = 1
BATCH_BYTES = 8 << 20


def departement_of(code: str) -> str:
    """The département part of a commune code: three characters overseas (97x), else two."""
    return code[:3] if code.startswith("97") else code[:2]


def _count_codes(counts: Counter[str], values: Iterable[Any], cut: tuple[int, int] | None,
                 times: Iterable[int] | None = None) -> None:
    weights = times if times is not None else itertools.repeat(1)
    for value, weight in zip(values, weights):
        if value is None:
            continue
        text = str(value).strip()
        if cut:
            text = text[cut[0]:cut[1]]
        if text:
            counts[text] += int(weight)


class _Bounds:
    def __init__(self) -> None:
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def add(self, xs: Any, ys: Any) -> None:
        import numpy as np

        xs = np.asarray(xs, dtype="float64")
        ys = np.asarray(ys, dtype="float64")
        ok = np.isfinite(xs) & np.isfinite(ys)
        if not ok.any():
            return
        xs, ys = xs[ok], ys[ok]
        self.box = [min(self.box[0], float(xs.min())), min(self.box[1], float(ys.min())),
                    max(self.box[2], float(xs.max())), max(self.box[3], float(ys.max()))]

    def wgs84(self, crs: str | None) -> list[float] | None:
        if not math.isfinite(self.box[0]):
            return None
        return to_wgs84(self.box, crs)


def to_wgs84(box: list[float] | tuple[float, ...], crs: str | None) -> list[float] | None:
    box = [float(v) for v in box]
    if crs and crs.upper() not in ("EPSG:4326", "OGC:CRS84"):
        from pyproj import Transformer

        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        box = list(transformer.transform_bounds(*box))
    if not all(math.isfinite(v) for v in box):
        return None
    if not (-180.5 <= box[0] <= box[2] <= 180.5 and -90.5 <= box[1] <= box[3] <= 90.5):
        return None  # coordinates that are not what the profile says: no extent
    return [round(v, 5) for v in box]


def _numbers(column: Any) -> Any:
    """A text or numeric Arrow column as float64 numpy (decimal commas allowed, junk as NaN)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        return column.to_numpy(zero_copy_only=False).astype("float64")
    text = pc.replace_substring(pc.utf8_trim_whitespace(column.cast(pa.string())), ",", ".")
    try:
        return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for value in text.to_pylist():
            try:
                out.append(float(value))
            except (TypeError, ValueError):
                out.append(float("nan"))
        return np.array(out, dtype="float64")


def _scan_table_batches(batches: Iterable[Any], profile: ExtractionProfile,
                        counts: Counter[str], bounds: _Bounds) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = 0
    values: list[Any] = []
    tallies: list[Any] = []
    for batch in batches:
        rows += batch.num_rows
        if profile.code_column:
            column = batch.column(batch.schema.get_field_index(profile.code_column))
            column = pc.utf8_trim_whitespace(column.cast(pa.string()))
            if profile.code_slice:
                start, stop = profile.code_slice
                column = pc.utf8_slice_codeunits(column, start, stop)
            tallied = pc.value_counts(column)
            values.append(tallied.field("values"))
            tallies.append(tallied.field("counts"))
        if profile.geometry == "latlon" and profile.lat_column and profile.lon_column:
            lat = batch.column(batch.schema.get_field_index(profile.lat_column))
            lon = batch.column(batch.schema.get_field_index(profile.lon_column))
            bounds.add(_numbers(lon), _numbers(lat))
    if values:
        # Distinct values per batch, summed across batches by Arrow: one Python pass over
        # the distinct codes of the whole file.
        table = pa.table({"v": pa.concat_arrays(values), "n": pa.concat_arrays(tallies)})
        summed = table.group_by("v").aggregate([("n", "sum")])
        _count_codes(counts, summed.column("v").to_pylist(), None,
                     summed.column("n_sum").to_pylist())
    return rows


def _wanted_columns(profile: ExtractionProfile) -> list[str]:
    wanted = [profile.code_column] if profile.code_column else []
    if profile.geometry == "latlon":
        wanted += [c for c in (profile.lat_column, profile.lon_column) if c]
    return list(dict.fromkeys(wanted))


def _csv(path: Path, profile: ExtractionProfile, counts: Counter[str], bounds: _Bounds) -> int:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    from .sniff import read_csv_layout

    wanted = _wanted_columns(profile)
    layout = read_csv_layout(path, profile.encoding, profile.delimiter)
    encoding = (profile.encoding or layout.encoding or "utf-8").replace("-sig", "")
    names = list(profile.columns) or list(layout.header)
    handle = path.open("rb")
    try:
        handle.seek(layout.data_offset)
        if not wanted:
            return sum(1 for line in handle if line.strip())
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(column_names=names, encoding=encoding,
                                           block_size=BATCH_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=profile.delimiter or ",",
                                             newlines_in_values=True,
                                             invalid_row_handler=lambda _row: "skip"),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, column_types={c: pa.string() for c in wanted}),
        )
        return _scan_table_batches(reader, profile, counts, bounds)
    finally:
        handle.close()


def _parquet(path: Path, profile: ExtractionProfile, counts: Counter[str],
             bounds: _Bounds) -> int:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    wanted = _wanted_columns(profile)
    if wanted:
        _scan_table_batches(file.iter_batches(batch_size=65_536, columns=wanted), profile,
                            counts, bounds)
    if profile.geometry == "native":
        from .layer_profiles import parquet_geo_metadata

        meta = parquet_geo_metadata(file) or {}
        import json

        raw = (file.schema_arrow.metadata or {}).get(b"geo")
        try:
            box = json.loads(raw)["columns"][meta["primary_column"]].get("bbox") if raw else None
        except (ValueError, KeyError, TypeError):
            box = None
        if box and len(box) == 4:
            bounds.add([box[0], box[2]], [box[1], box[3]])
    return int(file.metadata.num_rows)


def _json_records(path: Path, profile: ExtractionProfile, counts: Counter[str],
                  bounds: _Bounds) -> int:
    from .layer_profiles import load_json_records

    records = load_json_records(path)
    if profile.code_column:
        _count_codes(counts, (r.get(profile.code_column) for r in records), profile.code_slice)
    if profile.geometry == "latlon" and profile.lat_column and profile.lon_column:
        def number(value: Any) -> float:
            try:
                return float(str(value).replace(",", "."))
            except (TypeError, ValueError):
                return float("nan")

        bounds.add([number(r.get(profile.lon_column)) for r in records],
                   [number(r.get(profile.lat_column)) for r in records])
    return len(records)


def _ogr(path: Path, profile: ExtractionProfile, counts: Counter[str], bounds: _Bounds) -> int:
    import pyogrio

    from .layer_profiles import ogr_source

    source = ogr_source(path, profile.format)
    info = pyogrio.read_info(source, layer=profile.layer, force_feature_count=True,
                             force_total_bounds=profile.geometry == "native")
    if profile.geometry == "native":
        box = info.get("total_bounds")
        if box is not None and len(box) == 4:
            bounds.add([box[0], box[2]], [box[1], box[3]])
    wanted = _wanted_columns(profile)
    if wanted:
        _, table = pyogrio.read_arrow(source, layer=profile.layer, columns=wanted,
                                      read_geometry=False)
        _scan_table_batches(table.to_batches(), profile, counts, bounds)
    return int(info.get("features") or 0)


def compute_coverage(path: str | Path, profile: ExtractionProfile) -> dict[str, Any]:
    """Read the code and coordinate columns of ``path`` once and summarise its coverage."""
    from .archive import data_file

    counts: Counter[str] = Counter()
    bounds = _Bounds()
    with data_file(Path(path)) as (readable, _):
        if profile.format == "csv":
            rows = _csv(readable, profile, counts, bounds)
        elif profile.format == "parquet":
            rows = _parquet(readable, profile, counts, bounds)
        elif profile.format == "json":
            rows = _json_records(readable, profile, counts, bounds)
        else:
            rows = _ogr(readable, profile, counts, bounds)
    return summarise(rows, counts, bounds.wgs84(profile.crs) if profile.has_geometry else None,
                     with_codes=profile.has_code)


def summarise(rows: int, counts: Counter[str], bbox: list[float] | None, *,
              with_codes: bool = True) -> dict[str, Any]:
    """A coverage from row counts per raw code value (values without a key are skipped)."""
    import numpy as np

    present = np.zeros(KEY_SPACE, dtype=bool)
    by_departement: Counter[str] = Counter()
    keyed = odd = 0
    for value, n in counts.items():
        key = code_key(value)
        if key < 0:
            odd += n
            continue
        present[key] = True
        keyed += n
        by_departement[departement_of(key_code(key))] += n
    coverage: dict[str, Any] = {"version": COVERAGE_VERSION, "rows": int(rows), "bbox": bbox}
    if with_codes:
        packed = zlib.compress(np.packbits(present).tobytes(), 9)
        coverage.update({
            "rows_with_code": int(keyed),
            "rows_odd_code": int(odd),
            "communes_count": int(present.sum()),
            "communes": base64.b64encode(packed).decode("ascii"),
            "departements": dict(sorted(by_departement.items())),
        })
    return coverage


def present_keys(coverage: dict[str, Any]) -> Any:
    """The boolean array of commune-code keys met in the file."""
    import numpy as np

    packed = zlib.decompress(base64.b64decode(coverage["communes"]))
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8))[:KEY_SPACE].astype(bool)


def estimate_rows(coverage: dict[str, Any] | None,
                  perimeter_codes: Iterable[str]) -> tuple[int | None, bool]:
    """(rows, exact) of a filter by commune code: ``(0, True)`` when no code of the perimeter
    is in the file; else an estimate, the rows of each département scaled by the share of
    the département's codes present in the file that the perimeter holds. ``(None, False)``
    without a code coverage."""
    if not coverage or not coverage.get("communes"):
        return None, False
    import numpy as np

    present = present_keys(coverage)
    wanted = np.zeros(KEY_SPACE, dtype=bool)
    for code in perimeter_codes:
        key = code_key(code)
        if key >= 0:
            wanted[key] = True
    hits = np.flatnonzero(present & wanted)
    if hits.size == 0:
        # Codes written in another form (not five characters) are not in the bitmap: with
        # such rows, "none of the perimeter's codes" cannot be told.
        return (0, True) if not coverage.get("rows_odd_code") else (None, False)
    rows = coverage.get("departements") or {}
    hit_ids, hit_counts = np.unique(_departement_ids(hits), return_counts=True)
    all_ids, all_counts = np.unique(_departement_ids(np.flatnonzero(present)),
                                    return_counts=True)
    present_per = dict(zip(all_ids.tolist(), all_counts.tolist(), strict=True))
    total = 0.0
    for dep, n in zip(hit_ids.tolist(), hit_counts.tolist(), strict=True):
        total += rows.get(_departement_label(dep), 0) * n / max(present_per[dep], 1)
    return max(1, round(total)), False


def _departement_ids(keys: Any) -> Any:
    """The département of each code key as a number (971 for 97105; -1 for 2A, -2 for 2B)."""
    import numpy as np

    keys = np.asarray(keys, dtype=np.int64)
    plain = np.where(keys // 1000 == 97, keys // 100, keys // 1000)
    corsica = np.where((keys - 100_000) // 1000 == 1, -2, -1)
    return np.where(keys < 100_000, plain, corsica)


def _departement_label(number: int) -> str:
    if number < 0:
        return "2A" if number == -1 else "2B"
    return str(number) if number >= 970 else f"{number:02d}"


def bbox_disjoint(coverage: dict[str, Any] | None,
                  bounds: tuple[float, float, float, float] | list[float]) -> bool:
    """True when the file's extent is known and does not meet ``bounds`` (WGS 84)."""
    box = (coverage or {}).get("bbox")
    if not box or len(box) != 4:
        return False
    return bool(box[2] < bounds[0] or bounds[2] < box[0] or box[3] < bounds[1]
                or bounds[3] < box[1])


def public_view(coverage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The coverage without its bitmap, as an API shows it."""
    if not coverage:
        return None
    return {k: v for k, v in coverage.items() if k != "communes"}
