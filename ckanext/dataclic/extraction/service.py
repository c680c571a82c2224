"""The CKAN-side extraction, as one import for its callers (actions, jobs, CLI, views).

The work is split by job into small modules; this module only re-exports their public
names so that ``service.detect``, ``service.request_extraction``… keep working:

- :mod:`.settings`: configuration, formats, stored messages, ``SourceError``;
- :mod:`.sources`: the file an extraction reads (uploads, remote URLs fetched once);
- :mod:`.profiles`: detection and use of extraction profiles;
- :mod:`.records`: ids, file names, cache keys, the public view of a record;
- :mod:`.admission`: client addresses (trusted proxies) and the anonymous rate limit;
- :mod:`.request`: validating a request, cache, run now or enqueue;
- :mod:`.runner`: running jobs, heartbeats, retry of extractions whose worker died;
- :mod:`.storage`: the total storage cap (LRU eviction), partial files, purge;
- :mod:`.indexes`: engine indexes of large CSV files.
"""
from __future__ import annotations

from ckanext.dataclic.extraction.admission import client_address, client_key
from ckanext.dataclic.extraction.indexes import build_index, index_dir, wants_index
from ckanext.dataclic.extraction.profiles import (
    COVERAGE_MAX_BYTES,
    TYING_FIELDS,
    allowed_formats,
    allowed_modes,
    detect,
    engine_profile,
    keeps_coverage,
    log,
    profile_view,
    referential,
    usable_profile,
    with_coverage,
)
from ckanext.dataclic.extraction.records import (
    cache_key,
    download_url,
    filename_for,
    new_id,
    record_view,
    result_path,
    slug,
)
from ckanext.dataclic.extraction.request import (
    ExtractionRequest,
    duration_text,
    request_extraction,
)
from ckanext.dataclic.extraction.runner import Heartbeat, expire_stale, recover_dead, run
from ckanext.dataclic.extraction.settings import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMAT_LABELS,
    FORMATS,
    JOB_LOST,
    MODES,
    TABULAR_FORMATS,
    UNEXPECTED,
    WORKER_LOST,
    ExtractionSettings,
    SourceError,
    settings,
    translate,
)
from ckanext.dataclic.extraction.sources import (
    content_version,
    known_input_size,
    local_source,
    show_resource,
    site_context,
    small_local_file,
    source_file,
    upload_path,
)
from ckanext.dataclic.extraction.storage import PurgeResult, evict, purge

__all__ = [
    "CONTENT_TYPES", "COVERAGE_MAX_BYTES", "EXTENSIONS", "FORMATS", "FORMAT_LABELS",
    "JOB_LOST", "MODES", "TABULAR_FORMATS", "TYING_FIELDS", "UNEXPECTED", "WORKER_LOST",
    "ExtractionRequest", "ExtractionSettings", "Heartbeat", "PurgeResult", "SourceError",
    "allowed_formats", "allowed_modes", "build_index", "cache_key", "client_address",
    "client_key", "content_version", "detect", "download_url", "duration_text",
    "engine_profile", "evict", "expire_stale", "filename_for", "index_dir",
    "keeps_coverage", "known_input_size", "local_source", "log", "new_id", "profile_view",
    "purge", "record_view", "recover_dead", "referential", "request_extraction",
    "result_path", "run", "settings", "show_resource", "site_context", "slug",
    "small_local_file", "source_file", "translate", "upload_path", "usable_profile",
    "wants_index", "with_coverage",
]
