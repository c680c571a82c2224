"""The preview of an extraction: how many rows a perimeter would give, told without running it.

Sources, tried in this order (the first that answers wins):

1. ``cache``: a finished extraction of the same resource, perimeter, mode and referential
   vintage: its ``rows_kept``, exact.
2. ``index``: for a filter by commune code of a CSV file that has a fresh engine code index
   (``ckanext.dataclic.extract.index``) next to its local file: the rows of the perimeter's
   codes summed from the index, exact (a few milliseconds; the file is not read).
3. ``coverage``: the coverage recorded with the profile when it was detected
   (``extract/coverage.py``). Filter mode: 0 (exact) when none of the perimeter's codes is
   in the file, else an estimate from the rows per département. Geometric modes: 0 (exact)
   when the perimeter's bounding box does not meet the file's extent, else no figure.

For a gridded resource (NetCDF, GeoTIFF, DRIAS text) the answer is instead the number of
``communes`` of the perimeter and of ``layers`` (variables x dimension labels) from the
profile, with ``covered`` when the grid's extent meets the perimeter (``source: grid``).

Nothing here reads the data file or fetches a remote one.
"""
from __future__ import annotations

from typing import Any

from ckanext.dataclic.extraction import grids, service
from ckanext.dataclic.model import extraction as store


class PreviewError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _from_cache(resource_id: str, perimeter: Any, mode: str | None) -> int | None:
    import json

    for record in store.list_extractions(resource_id=resource_id, statuses=("done",),
                                         limit=50):
        if (record["perimeter"] == perimeter.id and record["report"]
                and record["vintage"] == perimeter.vintage
                and (mode is None or record["mode"] == mode)):
            rows = json.loads(record["report"]).get("rows_kept")
            if rows is not None:
                return int(rows)
    return None


def _from_index(resource: dict[str, Any], profile: dict[str, Any], perimeter: Any,
                ref: Any) -> int | None:
    if profile.get("format") != "csv" or not profile.get("code_column"):
        return None
    path = service.local_source(resource)
    if path is None:
        return None
    import numpy as np

    from ckanext.dataclic.extract.codes import CodeClassifier, key_code
    from ckanext.dataclic.extract.index import load_csv_index

    try:
        index = load_csv_index(path, service.engine_profile(profile),
                               service.index_dir(resource["id"]))
        if index is None:
            return None
        # keys.npy: the sorted keys met in the file; ptr.npy: where each key's records start.
        keys = np.asarray(index.array("keys"))
        counts = np.diff(np.asarray(index.array("ptr")))
        classifier = CodeClassifier(ref, frozenset(perimeter.codes), perimeter.communes)
        plain = keys >= 0
        rows = int(counts[plain][classifier.inside[keys[plain]]].sum())
        for value, spans in (index.meta.get("odd") or {}).items():
            key, _known, norm = classifier.classify_text(value)
            if classifier.is_inside_text(key_code(key) if key >= 0 else norm, key):
                rows += len(spans)
    except (OSError, KeyError, ValueError, IndexError):
        # An index of another layout (the engine's own business): the coverage answers.
        service.log.warning("Cannot count rows from the index of %s", path, exc_info=True)
        return None
    return rows


def _fill_coverage(resource: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A profile detected before coverages existed: computed now when the file is local and
    small enough to be detected within a request (``sync_max_bytes``), else left without
    (it comes with the next detection, when the file changes)."""
    profile = record["profile"]
    if not service.small_local_file(resource):
        return profile
    profile = service.with_coverage(resource, profile)
    store.save_profile(resource["id"], status=record["status"], profile=profile,
                       message=record.get("message"), content_version=record["content_version"],
                       corrected=bool(record.get("corrected")))
    return profile


def preview(resource: dict[str, Any], perimeter_id: str, mode: str | None) -> dict[str, Any]:
    """``{perimeter, perimeter_name, mode, rows_estimate, exact, covered, source}``; raises
    ``PerimeterError`` for a perimeter that does not resolve, :class:`PreviewError` for a
    mode that does not fit."""
    from ckanext.dataclic.extract.coverage import bbox_disjoint, estimate_rows

    ref = service.referential()
    perimeter = ref.resolve(perimeter_id)
    record = store.get_profile(resource["id"])
    detected = record is not None and record["status"] == "detected" and record.get("profile")
    profile = record["profile"] if detected else None
    modes = service.allowed_modes(profile)
    if mode is not None and mode not in service.MODES:
        raise PreviewError("mode", service.translate(
            "Unknown mode {value}; choose one of {accepted}").format(
            value=mode, accepted=", ".join(service.MODES)))
    if mode is not None and profile is not None and mode not in modes:
        raise PreviewError("mode", service.translate(
            "The {value} mode does not fit this resource; possible modes: {accepted}").format(
            value=mode, accepted=", ".join(modes)))
    mode = mode or (modes[0] if modes else None)
    answer: dict[str, Any] = {"perimeter": perimeter.id, "perimeter_name": perimeter.name,
                              "mode": mode, "rows_estimate": None, "exact": False,
                              "covered": None, "source": None}

    def found(rows: int | None, exact: bool, source: str) -> dict[str, Any]:
        return {**answer, "rows_estimate": rows, "exact": exact, "covered": rows != 0,
                "source": source}

    if grids.is_grid(profile):
        # A grid: the communes and layers it gives, told from the profile (no data read).
        return {**answer, **grids.preview(profile, perimeter, mode)}
    rows = _from_cache(resource["id"], perimeter, mode)
    if rows is not None:
        return found(rows, True, "cache")
    if profile is None or record["content_version"] != service.content_version(resource):
        return answer   # the profile is for another version of the file: nothing to tell
    if "coverage" not in profile:
        profile = _fill_coverage(resource, record)
    if mode == "filter":
        rows = _from_index(resource, profile, perimeter, ref)
        if rows is not None:
            return found(rows, True, "index")
        rows, exact = estimate_rows(profile.get("coverage"), perimeter.codes)
        if rows is not None:
            return found(rows, exact, "coverage")
    elif (mode in ("intersects", "clip") and (profile.get("coverage") or {}).get("bbox")
          and bbox_disjoint(profile["coverage"], perimeter.bounds)):
        return found(0, True, "coverage")
    return answer
