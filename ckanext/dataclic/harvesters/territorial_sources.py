"""Per harvester, how a territory's slice is asked for: the national metadata (without
downloading the national data), the server-filtered answers, and how to check them locally.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ckanext.dataclic.extract.profile import CODE_COLUMN_NAMES
from ckanext.dataclic.remote import RemoteClient, RemoteError

from . import grid_cut
from .local_cut import GEO_OUTPUTS, code_overrides
from .metered import Meter, download, new_file
from .records import DatasetDraft
from .server_filters import (
    datafair_lines,
    georisques_records,
    hubeau_records,
    ods_export,
    wfs_features,
)
from .territorial import Part, Plan
from .territory_columns import datafair_columns, ods_columns

# Hub'Eau names its code columns after the object (station, site); then every name the
# engine's profile detection knows.
CODE_CANDIDATES = ["code_commune_station", "code_commune_site", *CODE_COLUMN_NAMES]
CSV_OUTPUT = ("csv",)


EXPECTED_METHODS = {
    "dataclic_datafair": "server-filter", "dataclic_ods": "server-filter",
    "dataclic_hubeau": "server-filter", "dataclic_georisques": "server-filter",
    "dataclic_wfs": "server-filter", "dataclic_udata": "local-cut",
}


def expected_method(harvester_name: str) -> str:
    """How a harvester gets a territory's rows, before any call: ``server-filter`` (the
    API filters, a local check follows) or ``local-cut`` (whole files cut locally). The
    harvest may still fall back to ``local-cut`` (a data-fair dataset with neither a code
    column nor a geometry); the dataset's ``dataclic_method`` says what was done."""
    return EXPECTED_METHODS.get(harvester_name, "local-cut")


def plan_for(harvester: Any, content: dict[str, Any], config: dict[str, Any],
             source_url: str, client: RemoteClient, perimeter: Any, ref: Any,
             meter: Meter, folder: Path) -> Plan:
    steps = {
        "dataclic_datafair": _datafair,
        "dataclic_hubeau": _hubeau,
        "dataclic_georisques": _georisques,
        "dataclic_wfs": _wfs,
        "dataclic_ods": _ods,
        "dataclic_udata": _udata,
    }
    step = steps.get(harvester.name)
    if step is None:
        raise RemoteError(source_url, f"no territorial harvest for {harvester.name}")
    return step(harvester, content, config, source_url, client, perimeter, ref, meter, folder)


def _cap(config: dict[str, Any], client: RemoteClient) -> int:
    return int(config.get("max_bytes", client.limits.max_bytes))


def _departements(perimeter: Any, ref: Any) -> list[str]:
    return sorted({ref.communes[c].departement_code for c in perimeter.communes
                   if c in ref.communes})


def _national_only(draft: DatasetDraft) -> DatasetDraft:
    draft.resources = []
    return draft


# -- data-fair -----------------------------------------------------------------------------
def _datafair(harvester: Any, content: dict[str, Any], config: dict[str, Any],
              source_url: str, client: RemoteClient, perimeter: Any, ref: Any,
              meter: Meter, folder: Path) -> Plan:
    from .datafair import api_base

    national = harvester.build_dataset(content, {**config, "download": "file"}, source_url,
                                       client)  # metadata and links only
    ident = str(content["id"])
    dataset_api = f"{api_base(source_url)}/datasets/{quote(ident, safe='')}"
    schema, code_column, geo = datafair_columns(content, config)
    staged = datafair_lines(client, f"{dataset_api}/lines", perimeter, meter, folder,
                            code_column=code_column, geo=geo,
                            page_size=min(config.get("page_size", 10000), 10000),
                            cap=_cap(config, client))
    # A CSV page may head the code column with its original name rather than its key.
    original = next((str(f.get("x-originalName") or "") for f in schema
                     if f["key"] == code_column), "")
    overrides = code_overrides(staged.columns, [code_column or "", original]) \
        if code_column else None
    slug = str(content.get("slug") or ident)
    part = Part("file", slug, staged.path, CSV_OUTPUT, method=staged.method,
                detail=staged.detail, overrides=overrides,
                mode="filter" if overrides else "intersects", received=staged.rows)
    return Plan(_national_only(national), dataset_api, [part])


# -- Hub'Eau and Géorisques (paged JSON endpoints) -----------------------------------------------
def _paged_national(harvester: Any, content: dict[str, Any], config: dict[str, Any]
                    ) -> tuple[DatasetDraft, str, str]:
    endpoint, url = str(content["endpoint"]), str(content["url"])
    title = harvester.endpoint_title(endpoint)
    slug = endpoint.strip("/").replace("/", "-")
    draft = DatasetDraft(
        name_hint=f"{harvester.name.removeprefix('dataclic_')}-{slug}", title=title,
        remote_url=url, license_id="etalab-2.0", tags=list(harvester.default_tags),
        extras={"producer": harvester.producer, "dataclic_remote_id": endpoint},
        identity=urlsplit(url).path)
    return draft, endpoint, url


def _hubeau(harvester: Any, content: dict[str, Any], config: dict[str, Any],
            source_url: str, client: RemoteClient, perimeter: Any, ref: Any,
            meter: Meter, folder: Path) -> Plan:
    national, endpoint, url = _paged_national(harvester, content, config)
    staged = hubeau_records(
        client, url, endpoint, dict(config.get("params", {})), perimeter,
        _departements(perimeter, ref), meter, folder,
        page_size=config.get("page_size", harvester.default_page_size), cap=_cap(config, client))
    return Plan(national, url, [_records_part(endpoint, staged, config)])


def _georisques(harvester: Any, content: dict[str, Any], config: dict[str, Any],
                source_url: str, client: RemoteClient, perimeter: Any, ref: Any,
                meter: Meter, folder: Path) -> Plan:
    national, endpoint, url = _paged_national(harvester, content, config)
    staged = georisques_records(
        client, url, endpoint, dict(config.get("params", {})), perimeter,
        _departements(perimeter, ref), meter, folder,
        page_size=config.get("page_size", harvester.default_page_size), cap=_cap(config, client),
        next_page=harvester.next_page, codes_of=ref.codes_of_commune)
    return Plan(national, url, [_records_part(endpoint, staged, config)])


def _records_part(endpoint: str, staged: Any, config: dict[str, Any]) -> Part:
    """Rows checked by their commune code when they carry one (the safe check: an API that
    ignores a parameter sends other communes' rows), else by their coordinates."""
    wanted = (config.get("profile") or {}).get("code_column")
    overrides = code_overrides(staged.columns, ([wanted] if wanted else []) + CODE_CANDIDATES)
    slug = endpoint.strip("/").replace("/", "-")
    return Part("file", slug, staged.path, CSV_OUTPUT, method=staged.method,
                detail=staged.detail, overrides=overrides,
                mode="filter" if overrides else "intersects", received=staged.rows)


# -- WFS ----------------------------------------------------------------------------------------------
def _wfs(harvester: Any, content: dict[str, Any], config: dict[str, Any], source_url: str,
         client: RemoteClient, perimeter: Any, ref: Any, meter: Meter, folder: Path) -> Plan:
    from ckanext.dataclic.remote import full_url

    from .wfs import DEFAULT_PAGE_SIZE, _epsg

    layer = str(content["name"])
    layer_crs = _epsg(content.get("default_crs") or "") or "EPSG:4326"
    staged = wfs_features(
        client, source_url, layer, meter, folder, perimeter=perimeter, layer_crs=layer_crs,
        how=config.get("server_filter", "bbox"),
        geometry_name=config.get("geometry_name", "geom"),
        srs_name="EPSG:4326", page_size=config.get("page_size", DEFAULT_PAGE_SIZE),
        max_pages=config.get("max_pages", client.limits.max_pages), cap=_cap(config, client))
    slug = layer.replace(":", "-").lower()
    title = str(content.get("title") or layer)
    national_url = full_url(source_url, {"service": "WFS", "version": "2.0.0",
                                         "request": "GetFeature", "typeNames": layer})
    national = DatasetDraft(
        name_hint=slug, title=title, notes=str(content.get("abstract") or ""),
        remote_url=full_url(source_url, {"service": "WFS", "version": "2.0.0",
                                         "request": "GetCapabilities"}),
        license_id="etalab-2.0", tags=[str(k) for k in content.get("keywords") or []][:20],
        extras={"dataclic_remote_id": layer, "producer": config.get("producer", ""),
                "source_crs": layer_crs},
        identity=layer)
    part = Part("features", slug, staged.path, GEO_OUTPUTS, method=staged.method,
                detail=staged.detail, mode=config.get("cut", "intersects"), received=staged.rows)
    return Plan(national, national_url, [part])


# -- Opendatasoft ----------------------------------------------------------------------------------
def _ods(harvester: Any, content: dict[str, Any], config: dict[str, Any], source_url: str,
         client: RemoteClient, perimeter: Any, ref: Any, meter: Meter, folder: Path) -> Plan:
    from .ods import api_base

    national = harvester.build_dataset(content, config, source_url, client)  # links only
    ident = str(content["dataset_id"])
    exports = f"{api_base(source_url)}/catalog/datasets/{quote(ident, safe='')}/exports"
    code_field, geo_field = ods_columns(content, config)
    cap = _cap(config, client)
    parts: list[Part] = []
    path, method, detail = ods_export(client, f"{exports}/csv", perimeter, meter, folder, ".csv",
                                      code_field=code_field, geo_field=geo_field, cap=cap,
                                      extra={"delimiter": ";"})
    overrides = code_overrides(_csv_header(path), [code_field]) if code_field else None
    parts.append(Part("csv", ident, path, CSV_OUTPUT, method=method, detail=detail,
                      overrides=overrides, mode="filter" if overrides else "intersects"))
    if geo_field:
        try:
            path, method, detail = ods_export(client, f"{exports}/geojson", perimeter, meter,
                                              folder, ".geojson", code_field=code_field,
                                              geo_field=geo_field, cap=cap)
        except BaseException:
            parts[0].staged.unlink(missing_ok=True)
            raise
        parts.append(Part("geo", ident, path, GEO_OUTPUTS, method=method, detail=detail,
                          mode=config.get("cut", "intersects")))
    return Plan(_national_only(national), national.remote_url, parts)


def _csv_header(path: Path) -> list[str]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as stream:
        return next(csv.reader(stream, delimiter=";"), [])


# -- udata ---------------------------------------------------------------------------------------
UDATA_TABULAR = {"csv": ("csv", CSV_OUTPUT)}
UDATA_SPATIAL = {"geojson": ".geojson", "json-geojson": ".geojson", "gpkg": ".gpkg",
                 "geopackage": ".gpkg", "shp": ".zip", "zip": ".zip", "parquet": ".parquet",
                 "fgb": ".fgb"}


def _udata(harvester: Any, content: dict[str, Any], config: dict[str, Any], source_url: str,
           client: RemoteClient, perimeter: Any, ref: Any, meter: Meter, folder: Path) -> Plan:
    """Files: each data resource is downloaded (streamed, capped) and cut locally."""
    national = harvester.build_dataset(content, config, source_url, client)
    cap = _cap(config, client)
    parts: list[Part] = []
    skipped: list[str] = []
    for resource in national.resources:
        fmt = str(resource.get("format") or "").lower()
        name = str(resource.get("name") or resource["url"].rsplit("/", 1)[-1])
        if fmt == "csv":
            suffix, outputs = ".csv", CSV_OUTPUT
        elif fmt in UDATA_SPATIAL:
            suffix, outputs = UDATA_SPATIAL[fmt], GEO_OUTPUTS
        elif grid_cut.staged_suffix(fmt):
            suffix, outputs = grid_cut.staged_suffix(fmt), grid_cut.GRID_OUTPUTS
        else:
            skipped.append(name)
            continue
        path = new_file(folder, suffix)
        try:
            download(client, resource["url"], path, meter, cap=cap)
        except BaseException:
            path.unlink(missing_ok=True)
            for part in parts:
                part.staged.unlink(missing_ok=True)
            raise
        stem = Path(name).stem or str(resource["key"])
        part = Part(str(resource["key"])[:40], stem, path, outputs, method="local-cut",
                    detail=tk_detail(name),
                    mode=None if outputs == CSV_OUTPUT else config.get("cut"))
        maybe_grid = outputs == grid_cut.GRID_OUTPUTS
        if (maybe_grid or suffix == ".csv") and grid_cut.is_grid(path):
            # a grid by its format, or a CSV that is a DRIAS text export: statistics
            part.outputs, part.mode = grid_cut.GRID_OUTPUTS, None
            part.overrides = grid_cut.grid_overrides(config)
            part.cutter = partial(grid_cut.cut_grid, name=name)
        elif maybe_grid:  # a text file that is not a DRIAS export
            path.unlink(missing_ok=True)
            skipped.append(name)
            continue
        parts.append(part)
    return Plan(_national_only(national), national.remote_url, parts, skipped)


def tk_detail(name: str) -> str:
    return f"{name} downloaded whole"
