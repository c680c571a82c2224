"""Public API actions of ckanext-dataclic (all prefixed ``dataclic_``)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ckan.plugins.toolkit as tk

from ckanext.dataclic.logic import schema
from ckanext.dataclic.model import active_referential
from ckanext.dataclic.territories import PerimeterError, SearchResult


def _kind_label(kind: str) -> str:
    labels = {
        "commune": tk._("Commune"),
        "arrondissement": tk._("Municipal arrondissement"),
        "epci": tk._("Intercommunality (EPCI)"),
        "departement": tk._("Département"),
        "region": tk._("Région"),
        "communes": tk._("Group of communes"),
    }
    return labels.get(kind, kind)


def _result(result: SearchResult) -> dict[str, Any]:
    item = result.as_dict()
    item["kind_label"] = _kind_label(result.kind)
    return item


def _validate(data_dict: dict[str, Any], navl_schema: dict, context: dict) -> dict[str, Any]:
    data, errors = tk.navl_validate(data_dict, navl_schema, context)
    if errors:
        raise tk.ValidationError(errors)
    return data


@tk.side_effect_free
def dataclic_territory_search(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """Autocomplete of territories by name, INSEE code, SIREN or postcode.

    :param q: the text typed (accents, case, hyphens and "st"/"saint" are ignored)
    :param kinds: optional list (or comma-separated string) among commune, epci,
        departement, region
    :param limit: maximum number of results (1-50, default 10)
    :returns: ``{"vintage", "count", "results": [{id, kind, kind_label, code, name,
        population, departement}]}``, best match first
    """
    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.territory_search_schema(), context)
    tk.check_access("dataclic_territory_search", context, data)
    referential = active_referential.get()
    results = referential.search(data["q"], kinds=data.get("kinds"), limit=data["limit"])
    return {
        "vintage": referential.vintage,
        "count": len(results),
        "results": [_result(r) for r in results],
    }


@tk.side_effect_free
def dataclic_territory_show(context: dict[str, Any], data_dict: dict[str, Any]) -> dict:
    """A territory or perimeter: name, kind, communes, codes, parents, bounds, geometry.

    :param id: a perimeter ``kind:code`` (``commune:33063``, ``epci:243300316``,
        ``departement:2A``, ``region:75``, ``communes:33063,33281``)
    :param geometry: include the simplified GeoJSON geometry (default false)
    :param tolerance: simplification tolerance in degrees (default 0.0005, at most 0.1)
    """
    # Validated first: the auth functions look the ids up.
    data = _validate(data_dict, schema.territory_show_schema(), context)
    tk.check_access("dataclic_territory_show", context, data)
    referential = active_referential.get()
    try:
        perimeter = referential.resolve(data["id"])
    except PerimeterError as error:
        raise tk.ValidationError(
            {"id": [tk._("Invalid territory identifier: {reason}").format(
                reason=error.render(tk._))]}
        ) from error
    result: dict[str, Any] = {
        "id": perimeter.id,
        "kind": perimeter.kind,
        "kind_label": _kind_label(perimeter.kind),
        "code": perimeter.code,
        "name": perimeter.name,
        "vintage": perimeter.vintage,
        "communes": list(perimeter.communes),
        "codes": sorted(perimeter.codes),
        "parents": [
            {"kind": kind, "code": code, "name": name, "id": f"{kind}:{code}"}
            for kind, code, name in perimeter.parents
        ],
    }
    geometry = perimeter.geometry
    result["bounds"] = list(geometry.bounds) if not geometry.is_empty else None
    if data["geometry"]:
        import shapely

        shape = geometry
        if data["tolerance"] and not shape.is_empty:
            shape = shapely.simplify(shape, float(data["tolerance"]), preserve_topology=True)
        result["geometry"] = None if shape.is_empty else json.loads(shapely.to_geojson(shape))
    return result


def get_actions() -> dict[str, Callable[..., Any]]:
    return {
        "dataclic_territory_search": dataclic_territory_search,
        "dataclic_territory_show": dataclic_territory_show,
    }
