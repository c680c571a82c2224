"""ckanext-dcat profile ``dataclic_territory``: territory datasets in data.gouv.fr's terms.

Add it after a DCAT-AP profile (``ckanext.dcat.rdf.profiles = euro_dcat_ap_3
dataclic_territory``). For every dataset that dataclic published or harvested for a
territory (it carries ``dataclic_perimeter``), the profile adds to what DCAT-AP outputs:

- ``dct:spatial``: a ``dct:Location`` with each data.gouv.fr geozone id as
  ``dct:identifier`` (``fr:commune:33063``, ``fr:epci:243300316``, ``fr:departement:33``,
  ``fr:region:75``), the territory's name as ``skos:prefLabel`` and its outline as
  ``locn:geometry`` (GeoJSON, beside DCAT-AP's WKT);
- ``dct:source`` and ``prov:wasDerivedFrom``: the source dataset (its page on this portal,
  or the national source's URL for a territorial harvest);
- ``dct:license`` as the licence's URI, on the dataset and on each distribution;
- ``dcat:mediaType`` (IANA URI) and ``dct:format`` of each distribution.

``dct:temporal`` comes from DCAT-AP's own ``temporal_start``/``temporal_end`` fields, which
:func:`ckanext.dataclic.logic.territory_metadata.standard_territory_fields` copies from the
source dataset. Reading RDF back (``parse_dataset``) keeps the geozone ids and the source.
"""
from __future__ import annotations

import json
from typing import Any

from ckan.plugins import toolkit as tk
from ckanext.dcat.profiles import RDFProfile
from ckanext.dcat.profiles.base import DCAT, DCT, GEOJSON_IMT, LOCN
from ckanext.dcat.utils import resource_uri
from rdflib import RDF, Literal, URIRef
from rdflib.namespace import PROV, SKOS

from ckanext.dataclic.territories import PerimeterError
from ckanext.dataclic.territories.standard import geozone_ids

IANA = "https://www.iana.org/assignments/media-types/"
# Media types of the formats dataclic publishes (and of common source formats).
MEDIA_TYPES = {
    "CSV": "text/csv",
    "GEOJSON": "application/geo+json",
    "GEOPACKAGE": "application/geopackage+sqlite3",
    "GPKG": "application/geopackage+sqlite3",
    "PARQUET": "application/vnd.apache.parquet",
    "GEOPARQUET": "application/vnd.apache.parquet",
    "JSON": "application/json",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "SHP": "application/zip",
    "ZIP": "application/zip",
}


class TerritoryDCATProfile(RDFProfile):
    """Adds the territory, the source and URIs to DCAT-AP's output of dataclic datasets."""

    def graph_from_dataset(self, dataset_dict: dict[str, Any], dataset_ref: Any) -> None:
        perimeter = self._get_dataset_value(dataset_dict, "dataclic_perimeter")
        if not perimeter:
            return
        self._territory(dataset_dict, dataset_ref, perimeter)
        self._source(dataset_dict, dataset_ref)
        licence = self._licence_uri(dataset_dict)
        if licence:
            self.g.add((dataset_ref, DCT.license, licence))
            self.g.add((licence, RDF.type, DCT.LicenseDocument))
        for resource in dataset_dict.get("resources") or []:
            self._distribution(dataset_ref, resource, licence)

    def parse_dataset(self, dataset_dict: dict[str, Any], dataset_ref: Any) -> dict[str, Any]:
        extras = dataset_dict.setdefault("extras", [])
        known = {e.get("key") for e in extras}
        zones = sorted({
            str(identifier)
            for spatial in self.g.objects(dataset_ref, DCT.spatial)
            for identifier in self.g.objects(spatial, DCT.identifier)
            if str(identifier).startswith("fr:")
        })
        values = {"dataclic_geozones": " ".join(zones)}
        source = self.g.value(dataset_ref, PROV.wasDerivedFrom) or self.g.value(
            dataset_ref, DCT.source)
        if source is not None:
            values["dataclic_source_url"] = str(source)
        for key, value in values.items():
            if value and key not in known:
                extras.append({"key": key, "value": value})
        return dataset_dict

    # -- parts ------------------------------------------------------------------------------
    def _territory(self, dataset_dict: dict[str, Any], dataset_ref: Any, perimeter: str) -> None:
        zones = str(self._get_dataset_value(dataset_dict, "dataclic_geozones") or "").split()
        if not zones:
            try:
                zones = geozone_ids(perimeter)
            except PerimeterError:
                zones = []
        location = self._get_or_create_spatial_ref(dataset_dict, dataset_ref)
        for zone in zones:
            self.g.add((location, DCT.identifier, Literal(zone)))
        name = self._get_dataset_value(dataset_dict, "dataclic_perimeter_name")
        if name and (location, SKOS.prefLabel, None) not in self.g:
            self.g.add((location, SKOS.prefLabel, Literal(name)))
        outline = self._get_dataset_value(dataset_dict, "spatial")
        if outline:
            try:
                text = json.dumps(json.loads(outline), separators=(",", ":"))
            except (TypeError, ValueError):
                text = None
            if text:
                self.g.add((location, LOCN.geometry, Literal(text, datatype=GEOJSON_IMT)))

    def _source(self, dataset_dict: dict[str, Any], dataset_ref: Any) -> None:
        sources = []
        name = self._get_dataset_value(dataset_dict, "dataclic_source_package")
        if name:
            site = tk.config.get("ckan.site_url", "").rstrip("/")
            sources.append(URIRef(f"{site}/dataset/{name}"))
        url = self._get_dataset_value(dataset_dict, "dataclic_source_url")
        if url and str(url).startswith(("http://", "https://")):
            sources.append(URIRef(str(url)))
        for source in sources:
            self.g.add((dataset_ref, DCT.source, source))
            self.g.add((dataset_ref, PROV.wasDerivedFrom, source))

    @staticmethod
    def _licence_uri(dataset_dict: dict[str, Any]) -> URIRef | None:
        url = dataset_dict.get("license_url")
        if not url and dataset_dict.get("license_id"):
            from ckan.model import Package

            licence = Package.get_license_register().get(dataset_dict["license_id"])
            url = getattr(licence, "url", None)  # an unknown licence id: no URI
        return URIRef(url) if url and str(url).startswith(("http://", "https://")) else None

    def _distribution(self, dataset_ref: Any, resource: dict[str, Any],
                      licence: URIRef | None) -> None:
        distribution = URIRef(resource_uri(resource))
        if (dataset_ref, DCAT.distribution, distribution) not in self.g:
            return
        fmt = str(resource.get("format") or "").strip()
        if fmt and (distribution, DCT["format"], None) not in self.g:
            self.g.add((distribution, DCT["format"], Literal(fmt)))
        # The media type as its IANA URI (DCAT-AP's range), not a bare "text/csv" literal.
        found = list(self.g.objects(distribution, DCAT.mediaType))
        media = next((str(m) for m in found if isinstance(m, Literal) and "/" in str(m)),
                     None) or MEDIA_TYPES.get(fmt.upper().replace(" ", ""))
        if media and not any(str(m).startswith(IANA) for m in found):
            for value in found:
                if isinstance(value, Literal):
                    self.g.remove((distribution, DCAT.mediaType, value))
            uri = URIRef(IANA + media.split(";")[0].strip())
            self.g.add((distribution, DCAT.mediaType, uri))
            self.g.add((uri, RDF.type, DCT.MediaType))
        if licence is not None and (distribution, DCT.license, None) not in self.g:
            self.g.add((distribution, DCT.license, licence))
