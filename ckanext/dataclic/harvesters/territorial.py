"""Territorial harvest: a harvest source with a ``perimeter`` publishes the territory's slice
of each national dataset, never the national dataset itself.

This module holds the source config keys (``perimeter``, ``theme``, ``cut``,
``server_filter``, ``geometry_name``), the provenance extras (one function,
:func:`provenance_extras`), and the build of a territory's dataset: the harvester's
national metadata, the server-filtered answer (:mod:`.server_filters`), the local check
(:mod:`.local_cut`), and the log of what it cost. The per-API steps live in
:mod:`.territorial_sources`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.logic import dataset_fields
from ckanext.dataclic.logic.territory_metadata import standard_territory_fields
from ckanext.dataclic.remote import RemoteClient, RemoteError

from .config import SourceConfigError, _text, one_of
from .grid_cut import merged_provenance
from .local_cut import CutError, CutResult, cut, sha256
from .metered import Meter
from .records import DatasetDraft
from .storage import staging_dir

log = logging.getLogger(__name__)

LOG_EXTRA = "dataclic_territorial_log"
COMMUNES_EXTRA = "dataclic_perimeter_communes"
# Provenance that changes at every run without the data changing: left out of the hash.
VOLATILE_EXTRAS = frozenset({"dataclic_extraction_date", "dataclic_last_refresh"})
FORMAT_LABELS = {"csv": "CSV", "geojson": "GeoJSON", "gpkg": "GeoPackage"}


# -- source config ----------------------------------------------------------------------------
def referential() -> Any:
    from ckanext.dataclic.model import active_referential

    return active_referential.get()


def portal_perimeter() -> str:
    return str(tk.config.get("ckanext.dataclic.default_perimeter") or "").strip()


def check_perimeter(key: str, value: Any) -> str:
    """``kind:code`` resolved by the active referential, or ``portal``."""
    from ckanext.dataclic.territories import PerimeterError

    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(tk._(
            "'{key}' must be a territory such as epci:243300316, or \"portal\""
        ).format(key=key))
    text = value.strip()
    target = text
    if text == "portal":
        target = portal_perimeter()
        if not target:
            raise SourceConfigError(tk._(
                "'{key}' is \"portal\" but ckanext.dataclic.default_perimeter is not set"
            ).format(key=key))
    try:
        referential().resolve(target)
    except PerimeterError as exc:
        raise SourceConfigError(tk._("'{key}': unknown territory '{value}' ({error})").format(
            key=key, value=target, error=exc)) from exc
    return text


def check_theme(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(tk._(
            "'{key}' must be a theme id such as \"biodiversity\" or \"water\""
        ).format(key=key))
    return value.strip()


TERRITORIAL_KEYS = {
    "perimeter": check_perimeter,
    "theme": check_theme,
    "cut": one_of("intersects", "clip"),
    "server_filter": one_of("bbox", "intersects"),
    "geometry_name": _text,
}


def resolve(config: dict[str, Any]) -> Any:
    text = config["perimeter"]
    return referential().resolve(portal_perimeter() if text == "portal" else text)


# -- provenance -------------------------------------------------------------------------------
def provenance_extras(
    perimeter: Any, *, mode: str, method: str, rows_read: int, rows_kept: int,
    theme: str | None, source_url: str, source_title: str = "",
    extracted: dt.datetime | None = None,
) -> dict[str, str]:
    """The extras of a dataset a territorial harvest creates (the keys ``dataclic_publish``
    writes, plus the method, theme and national source; the refresh outcome for the
    dataset page's badge). The one place to add standard metadata (e.g. ckanext-spatial's
    ``spatial``) later."""
    when = extracted or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return {
        # spatial outline, data.gouv.fr geozones: what catalogues and DCAT read
        **standard_territory_fields(perimeter.id),
        # the provenance box of the dataset page: the national source is not in this CKAN
        "dataclic_source_package": source_url,
        "dataclic_source_package_title": source_title,
        "dataclic_last_refresh": when.isoformat(timespec="seconds"),
        "dataclic_refresh_status": "ok",
        "dataclic_perimeter": perimeter.id,
        "dataclic_perimeter_name": perimeter.name,
        "dataclic_cog_vintage": perimeter.vintage,
        "dataclic_mode": mode,
        "dataclic_rows_read": str(rows_read),
        "dataclic_rows_kept": str(rows_kept),
        "dataclic_extraction_date": when.isoformat(timespec="seconds"),
        "dataclic_method": method,
        "dataclic_theme": theme or "",
        "dataclic_source_url": source_url,
    }


def communes_digest(perimeter: Any) -> str:
    text = perimeter.vintage + "|" + ",".join(sorted(perimeter.communes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the build ----------------------------------------------------------------------------------
class Part:
    """One resource to make: a staged server answer, and how to check it locally."""

    def __init__(self, key: str, name: str, staged: Path, outputs: tuple[str, ...], *,
                 method: str, detail: str, mode: str | None = None, overrides: Any = None,
                 received: int | None = None, cutter: Any = None) -> None:
        self.key, self.name, self.staged, self.outputs = key, name, staged, outputs
        self.method, self.detail, self.mode, self.overrides = method, detail, mode, overrides
        self.received = received
        self.cutter = cutter or cut  # local_cut.cut, or grid_cut.cut_grid for a grid


class Plan:
    """What a harvester's territorial step gives back: the national metadata (a draft
    without data resources), the national source's URL, and the parts to cut."""

    def __init__(self, national: DatasetDraft, national_url: str, parts: list[Part],
                 skipped: list[str] | None = None) -> None:
        self.national, self.national_url, self.parts = national, national_url, parts
        self.skipped = skipped or []


def build_territorial(
    harvester: Any, harvest_object: Any, content: dict[str, Any], config: dict[str, Any],
    source_url: str, client: RemoteClient,
) -> DatasetDraft:
    """The territory's dataset for one remote record (the national one is not imported).

    Raises :class:`RemoteError` (the previous published data stays as it is, and its page
    shows the failure) when the source cannot be read or checked."""
    perimeter = resolve(config)
    try:
        draft = _build(harvester, harvest_object, content, config, source_url, client,
                       perimeter)
    except RemoteError as exc:
        _mark_failed(harvest_object, str(exc))
        raise
    if _previous_status(harvest_object) == "failed":
        harvest_object.force_import = True  # rewrite, if only to clear the failure badge
    return draft


def _build(harvester: Any, harvest_object: Any, content: dict[str, Any],
           config: dict[str, Any], source_url: str, client: RemoteClient,
           perimeter: Any) -> DatasetDraft:
    from .territorial_sources import plan_for

    ref = referential()
    meter = Meter()
    folder = staging_dir()
    plan = plan_for(harvester, content, config, source_url, client, perimeter, ref, meter,
                    folder)
    results: list[tuple[Part, CutResult]] = []
    try:
        for part in plan.parts:
            try:
                results.append((part, part.cutter(
                    part.staged, perimeter, ref, folder, part.outputs, mode=part.mode,
                    overrides=part.overrides)))
            except CutError as exc:
                # Stored in the harvest object: in the portal's language, not the worker's.
                from ckanext.dataclic.portal_language import gettext_default

                raise RemoteError(plan.national_url, gettext_default(
                    "the answer could not be checked against {territory}: {error}"
                ).format(territory=perimeter.name, error=exc.render(gettext_default)),
                    200) from exc
    except BaseException:
        for _part, result in results:
            for path in result.files.values():
                path.unlink(missing_ok=True)
        raise
    finally:
        for part in plan.parts:
            part.staged.unlink(missing_ok=True)
    if not results:
        raise RemoteError(plan.national_url, tk._(
            "nothing in this dataset can be cut to a territory (no code column, no geometry)"))
    kept = sum(r.rows_kept for _p, r in results)
    received = sum(r.rows_read if p.received is None else p.received for p, r in results)
    if kept == 0:
        for _part, result in results:
            for path in result.files.values():
                path.unlink(missing_ok=True)
        raise RemoteError(plan.national_url, tk._(
            "no row of {territory} in the answer ({rows} rows received); the previous data "
            "is kept").format(territory=perimeter.name, rows=received), 200)
    methods = sorted({p.method for p, _r in results})
    method = "server-filter" if methods == ["server-filter"] else "local-cut"
    modes = ", ".join(sorted({r.mode for _p, r in results if r.mode}))
    facts = {"method": method, **meter.to_dict(), "rows_received": received,
             "rows_kept": kept, "perimeter": perimeter.id, "vintage": perimeter.vintage}
    for _part, result in results:
        facts.update(result.facts)
    _log_object(harvest_object, facts, perimeter)
    log.info("Territorial harvest of %s for %s: %s", plan.national_url, perimeter.id, facts)
    return _draft(plan, results, perimeter, config, method, modes, received, kept)


def _draft(plan: Plan, results: list[tuple[Part, CutResult]], perimeter: Any,
           config: dict[str, Any], method: str, modes: str, received: int,
           kept: int) -> DatasetDraft:
    national = plan.national
    resources: list[dict[str, Any]] = []
    for part, result in results:
        for fmt, path in result.files.items():
            name = f"{part.name}-{_slug(perimeter.name)}.{fmt}"
            resources.append({
                "key": f"{part.key}-{fmt}", "name": name, "format": FORMAT_LABELS[fmt],
                "url": name, "url_type": "upload", "size": path.stat().st_size,
                # GeoPackage bytes change with the write time: hash the checked data instead
                "dataclic_data_hash": f"sha256:{result.data_hash}",
                "hash": None if fmt == "gpkg" else f"sha256:{sha256(path)}",
                "_local_file": str(path),
                "dataclic_profile": _output_profile(fmt, result),
                "description": _description(result, perimeter.name),
            })
    resources.append({
        "key": "national-source", "name": tk._("National source: {title}").format(
            title=national.title), "url": plan.national_url, "format": "",
        "description": tk._("The national dataset this territory's extract comes from."),
    })
    details = "; ".join(f"{p.name}: {p.detail}" for p, _r in results)
    if method == "server-filter":
        how = tk._("the server was asked for the territory only ({details}), then every row "
                   "was checked locally against the territory").format(details=details)
    elif any(r.kind == "grid" for _p, r in results):  # counts below are grid cells
        how = tk._("the national grid was downloaded ({details}) and its cells meeting the "
                   "territory turned into statistics per commune").format(details=details)
    else:
        how = tk._("the national data was downloaded ({details}) and cut locally").format(
            details=details)
    notes = tk._(
        "Extract of {source} for {territory}, cut with the {vintage} referential: {kept} of "
        "{received} rows received kept; {how}. National source: {url}"
    ).format(source=national.title, territory=perimeter.name, vintage=perimeter.vintage,
             kept=kept, received=received, how=how, url=plan.national_url)
    if plan.skipped:
        notes += "\n\n" + tk._("Not included (cannot be cut to a territory): {names}").format(
            names=", ".join(plan.skipped))
    if national.notes:
        notes += "\n\n" + national.notes
    extras = {k: v for k, v in national.extras.items()
              if k not in ("records_count", "spatial_bbox", "spatial_zones")}
    extras.update(provenance_extras(
        perimeter, mode=modes, method=method, rows_read=received, rows_kept=kept,
        theme=config.get("theme"), source_url=plan.national_url, source_title=national.title))
    extras["records_count"] = str(kept)
    extras.update(merged_provenance([r.extras for _p, r in results if r.extras]))
    return DatasetDraft(
        name_hint=f"{national.name_hint}-{_slug(perimeter.name)}",
        title=f"{national.title} — {perimeter.name}",
        notes=notes,
        remote_url=national.remote_url,
        license_id=national.license_id,
        tags=national.tags,
        extras=extras,
        resources=resources,
        identity=f"{national.identity or national.name_hint}#{perimeter.id}",
    )


def _description(result: CutResult, territory: str) -> str:
    if result.kind == "grid":
        return tk._("Statistics per commune of {territory} ({variables}), area-weighted over "
                    "the {cells} grid cells that meet it").format(
            territory=territory, variables=result.extras.get("dataclic_variables", ""),
            cells=result.rows_kept)
    return tk._("{rows} rows of {territory}").format(rows=result.rows_kept, territory=territory)


def _output_profile(fmt: str, result: CutResult) -> str | None:
    """The extraction profile of a territory's file, so that it can be cut further."""
    if fmt == "csv" and result.profile and result.kind == "rows":
        profile = {k: v for k, v in result.profile.items()
                   if k not in ("archive_member", "header_width", "data_width")}
        profile.update(format="csv", delimiter=",", encoding="utf-8")
        return json.dumps(profile, sort_keys=True)
    if fmt == "geojson":
        return json.dumps({"format": "geojson", "geometry": "native", "crs": "EPSG:4326"},
                          sort_keys=True)
    return None


def _slug(text: str) -> str:
    from ckan.lib.munge import munge_name

    return munge_name(text)[:40].strip("-") or "territory"


def _log_object(harvest_object: Any, facts: dict[str, Any], perimeter: Any) -> None:
    """Per dataset, in the harvest object: method, requests, bytes, rows received and kept;
    and whether the territory's communes changed since the previous harvest."""
    from ckan import model
    from ckanext.harvest.model import HarvestObject, HarvestObjectExtra

    digest = communes_digest(perimeter)
    previous = None
    if getattr(harvest_object, "guid", None) and getattr(harvest_object, "harvest_source_id",
                                                        None):
        previous = (
            model.Session.query(HarvestObjectExtra.value)
            .join(HarvestObject, HarvestObject.id == HarvestObjectExtra.harvest_object_id)
            .filter(HarvestObject.guid == harvest_object.guid)
            .filter(HarvestObject.harvest_source_id == harvest_object.harvest_source_id)
            .filter(HarvestObject.current.is_(True))
            .filter(HarvestObjectExtra.key == COMMUNES_EXTRA)
            .scalar()
        )
    if previous and previous != digest:
        facts["communes_changed"] = True
        facts["message"] = tk._(
            "The communes of {territory} changed with the referential ({vintage}): rebuilt"
        ).format(territory=perimeter.name, vintage=perimeter.vintage)
    for extra in list(harvest_object.extras):
        if extra.key in (LOG_EXTRA, COMMUNES_EXTRA):
            harvest_object.extras.remove(extra)
    harvest_object.extras.append(HarvestObjectExtra(key=LOG_EXTRA, value=json.dumps(facts)))
    harvest_object.extras.append(HarvestObjectExtra(key=COMMUNES_EXTRA, value=digest))


# -- the refresh badge of a dataset whose rebuild failed ---------------------------------------
def _previous_package(harvest_object: Any) -> dict[str, Any] | None:
    from ckan import model
    from ckanext.harvest.model import HarvestObject

    if not getattr(harvest_object, "guid", None):
        return None
    package_id = (
        model.Session.query(HarvestObject.package_id)
        .filter(HarvestObject.guid == harvest_object.guid)
        .filter(HarvestObject.harvest_source_id == harvest_object.harvest_source_id)
        .filter(HarvestObject.current.is_(True))
        .scalar()
    )
    package = model.Package.get(package_id) if package_id else None
    if package is None or package.state != "active":
        return None
    return tk.get_action("package_show")({"ignore_auth": True}, {"id": package.id})


def _previous_status(harvest_object: Any) -> str | None:
    package = _previous_package(harvest_object)
    if package is None:
        return None
    extras = {e["key"]: e["value"] for e in package.get("extras", [])}
    return extras.get("dataclic_refresh_status")


def _mark_failed(harvest_object: Any, message: str) -> None:
    """The published dataset stays as it is; its page says the last rebuild failed."""
    package = _previous_package(harvest_object)
    if package is None:
        return
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    outcome = {"dataclic_last_refresh": when.isoformat(timespec="seconds"),
               "dataclic_refresh_status": "failed",
               "dataclic_refresh_message": message[:500]}
    site = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    try:
        tk.get_action("package_patch")(
            {"ignore_auth": True, "user": site["name"]},
            {"id": package["id"], **dataset_fields.as_package_fields(
                outcome, package.get("type") or "dataset",
                current_extras=package.get("extras") or [])})
    except (tk.ValidationError, tk.ObjectNotFound):
        log.warning("Cannot record the failed rebuild on dataset %s", package["id"])
