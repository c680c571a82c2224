"""Requests for an extraction: validation, admission of anonymous clients, the cache of
identical extractions, and running it now or in a background job."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.extraction import admission, grids
from ckanext.dataclic.extraction.profiles import (
    _invalid,
    allowed_formats,
    allowed_modes,
    referential,
    usable_profile,
)
from ckanext.dataclic.extraction.records import cache_key, filename_for, new_id
from ckanext.dataclic.extraction.runner import enqueue, run
from ckanext.dataclic.extraction.settings import (
    FORMATS,
    MODES,
    N_,
    RESULT_REMOVED,
    settings,
    translate,
)
from ckanext.dataclic.extraction.sources import content_version, known_input_size, upload_path
from ckanext.dataclic.model import extraction as store


@dataclass
class ExtractionRequest:
    resource: dict[str, Any]
    perimeter: str
    format: str
    mode: str | None = None
    out_crs: str | None = None
    enrich: bool = False
    user_id: str | None = None
    client: str | None = None
    anonymous: bool = False
    # Grid options (gridded resources only): variables, labels {dimension: [labels]},
    # threshold (stats), wide (stats in CSV).
    variables: Any = None
    labels: Any = None
    threshold: Any = None
    wide: Any = False

    def grid_options_given(self) -> list[str]:
        given = {"variables": self.variables not in (None, "", []),
                 "labels": self.labels not in (None, "", {}),
                 "threshold": self.threshold not in (None, ""),
                 "wide": bool(self.wide) and str(self.wide).lower() not in ("false", "0")}
        return [name for name, present in given.items() if present]


def duration_text(seconds: int) -> str:
    """A duration in words, in the language of the request: seconds under a minute,
    minutes under two hours (unless a whole number of hours), else hours (rounded up)."""
    if seconds < 60:
        return tk.ungettext("{number} second", "{number} seconds",
                            seconds).format(number=seconds)
    minutes = math.ceil(seconds / 60)
    if minutes < 120 and seconds % 3600:
        return tk.ungettext("{number} minute", "{number} minutes",
                            minutes).format(number=minutes)
    hours = math.ceil(seconds / 3600)
    return tk.ungettext("{number} hour", "{number} hours", hours).format(number=hours)


def _admit(req: ExtractionRequest) -> None:
    """Anonymous clients: at most ``anonymous_max_jobs`` in progress, and at most
    ``anonymous_rate_limit`` new extractions per ``anonymous_rate_window`` seconds."""
    if not (req.anonymous and req.client):
        return
    conf = settings()
    if store.count_active_for_client(req.client) >= conf.anonymous_max_jobs:
        raise _invalid("resource_id", N_("You already have {count} extractions in progress; "
                                       "wait for them to finish"), count=conf.anonymous_max_jobs)
    refusal = admission.admit(req.client, conf.rate_limit, conf.rate_window)
    if refusal is not None:
        raise tk.ValidationError({"resource_id": [tk._(
            "Anonymous visitors may start {limit} new extractions in {window}; try again in "
            "{wait}, or log in").format(limit=refusal.limit,
                                        window=duration_text(refusal.window),
                                        wait=duration_text(refusal.wait))]})


def request_extraction(req: ExtractionRequest, *, inline: bool | None = None
                       ) -> tuple[dict[str, Any], bool]:
    """Validate, then find or create the extraction; run it now or enqueue it.

    Returns ``(record, cached)``; ``cached`` when an identical finished extraction answered.
    ``inline=None`` runs small uploaded inputs within the call and enqueues the rest.
    """
    from ckanext.dataclic.extract.profile import normalise_crs
    from ckanext.dataclic.territories import PerimeterError

    conf = settings()
    resource = req.resource
    fmt = (req.format or "").lower()
    if fmt not in FORMATS:
        raise _invalid("format", N_("Unknown format {value}; choose one of {accepted}"),
                       value=req.format, accepted=", ".join(FORMATS))
    ref = referential()
    try:
        perimeter = ref.resolve(req.perimeter)
    except PerimeterError as error:
        # The referential's message quotes at most 200 characters of the input.
        raise tk.ValidationError({"perimeter": [translate(
            "This perimeter does not resolve: {reason}").format(
                reason=error.render(translate))]}) from error
    record = usable_profile(resource)
    profile = record["profile"]
    modes = allowed_modes(profile)
    mode = req.mode or modes[0]
    if mode not in MODES:
        raise _invalid("mode", N_("Unknown mode {value}; choose one of {accepted}"),
                       value=mode, accepted=", ".join(MODES))
    if mode not in modes:
        raise _invalid("mode", N_("The {value} mode does not fit this resource; possible "
                                  "modes: {accepted}"), value=mode, accepted=", ".join(modes))
    options = None
    if grids.is_grid(profile):
        options = grids.options(profile, mode, fmt, variables=req.variables,
                                labels=req.labels, threshold=req.threshold, wide=req.wide)
    elif req.grid_options_given():
        name = req.grid_options_given()[0]
        raise _invalid(name, N_("The {value} option only applies to gridded resources "
                                "(NetCDF, GeoTIFF, DRIAS text)"), value=name)
    if options is None and fmt in ("netcdf", "geotiff"):
        raise _invalid("format", N_("The {value} format is for gridded resources; "
                                    "possible formats: {accepted}"), value=fmt,
                       accepted=", ".join(allowed_formats(profile)))
    if options is None and fmt not in allowed_formats(profile):
        raise _invalid("format", N_("The {value} format needs geometry, which this resource "
                                    "does not have; possible formats: {accepted}"), value=fmt,
                       accepted=", ".join(allowed_formats(profile)))
    try:
        out_crs = normalise_crs(req.out_crs or "EPSG:4326")
    except Exception as error:
        raise _invalid("out_crs", N_("Unknown coordinate reference system {value}"),
                       value=req.out_crs) from error
    size = known_input_size(resource)
    limit = conf.anonymous_max_input_bytes if req.anonymous else conf.max_input_bytes
    if size is not None and size > limit:
        raise _invalid("resource_id", N_("This file is too large to extract here ({size} "
                                         "bytes, limit {limit})"), size=size, limit=limit)
    version = content_version(resource)
    key = cache_key(resource["id"], version, perimeter.id, ref.vintage, mode, fmt, out_crs,
                    bool(req.enrich), options)
    existing = store.find_by_cache_key(key)
    if existing is None:
        _admit(req)
    created_at = store.now()
    record = store.insert_extraction({
        "id": new_id(), "cache_key": key, "resource_id": resource["id"],
        "package_id": resource["package_id"], "perimeter": perimeter.id,
        "perimeter_name": perimeter.name, "vintage": ref.vintage, "mode": mode,
        "format": fmt, "out_crs": out_crs, "enrich": bool(req.enrich), "status": "queued",
        "progress_done": 0, "progress_total": None if options is not None else size,
        "progress_unit": "layers" if options is not None else "bytes",
        "filename": filename_for(resource, perimeter.name, fmt),
        "user_id": req.user_id, "client": req.client, "created": created_at,
        "last_access": created_at,
        "options": json.dumps(options, ensure_ascii=False) if options is not None else None,
    })
    created = record.pop("_created")
    if not created and record["status"] == "done" and not Path(record["path"] or "").is_file():
        # The result file was removed by hand: fail the record and extract again.
        store.update_extraction(record["id"], status="failed", error=RESULT_REMOVED)
        return request_extraction(req, inline=inline)
    if not created:
        store.update_extraction(record["id"], last_access=store.now())
        return record, record["status"] == "done"
    run_now = inline if inline is not None else (
        upload_path(resource) is not None and size is not None
        and size <= conf.sync_max_bytes)
    if run_now:
        return run(record["id"]) or record, False
    enqueue(record["id"])
    return store.get_extraction(record["id"]) or record, False
