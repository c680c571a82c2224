"""OGC WFS 2.0 (INPN / PatriNat layers on the Géoplateforme: ZNIEFF, Natura 2000, parks…).

GetCapabilities lists the layers; one dataset per layer. The import pages GetFeature with
``count``/``startIndex`` in GeoJSON and writes one GeoJSON file, its CRS recorded in the
extraction profile; a second resource links to the live service.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import ckan.plugins.toolkit as tk

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url

from .base import DataclicHarvester
from .config import Check, SourceConfigError, _positive_int, _text, _text_list
from .paged import _sha256
from .profiles import profile_from_fields
from .records import DatasetDraft, RemoteRecord
from .storage import staging_dir
from .web import declare_harvest_options
from .wfs_paging import feature_pages, write_feature_collection

DEFAULT_PAGE_SIZE = 1000


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: Any, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def parse_capabilities(body: bytes, url: str) -> list[dict[str, Any]]:
    """The FeatureType entries of a WFS 2.0 capabilities document."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise RemoteError(url, f"the capabilities are not valid XML ({exc})", 200) from exc
    if _local(root.tag) == "ExceptionReport":
        text = " ".join(t.strip() for t in root.itertext() if t.strip())
        raise RemoteError(url, f"the service answered an exception: {text[:300]}", 200)
    if _local(root.tag) != "WFS_Capabilities":
        raise RemoteError(url, "the answer is not a WFS capabilities document", 200)
    layers = []
    for element in root.iter():
        if not isinstance(element.tag, str) or _local(element.tag) != "FeatureType":
            continue
        name = _child_text(element, "Name")
        if not name:
            continue
        keywords = [
            (k.text or "").strip() for k in element.iter()
            if isinstance(k.tag, str) and _local(k.tag) == "Keyword" and (k.text or "").strip()
        ]
        bbox = None
        for child in element:
            if _local(child.tag) == "WGS84BoundingBox":
                lower = _child_text(child, "LowerCorner").split()
                upper = _child_text(child, "UpperCorner").split()
                if len(lower) == 2 and len(upper) == 2:
                    bbox = [float(v) for v in lower + upper]
        layers.append({
            "name": name,
            "title": _child_text(element, "Title") or name,
            "abstract": _child_text(element, "Abstract"),
            "default_crs": _child_text(element, "DefaultCRS") or _child_text(element, "DefaultSRS"),
            "keywords": keywords,
            "bbox": bbox,
        })
    return layers


def choose_layers(
    layers: list[dict[str, Any]], config: dict[str, Any], url: str
) -> list[dict[str, Any]]:
    """The layers a source config selects, checked against the service's list.

    ``layers``: exact names, each possibly a ``|``-separated list of alternative names (the
    first one offered is taken: ``PROTECTEDAREAS.RNN:rnn|patrinat_rnn:rnn``).
    ``layer_prefix``: every layer under the prefix. ``layer_prefixes``: alternative prefixes,
    the first under which the service offers layers is used (so that a service publishing
    both naming schemes is not harvested twice). ``exclude_layers``: prefixes of layer names
    left out whatever else selects them."""
    excluded = tuple(config.get("exclude_layers") or ())
    offered = [layer for layer in layers if not layer["name"].startswith(excluded)]
    by_name = {layer["name"]: layer for layer in offered}
    if config.get("layers"):
        chosen, missing = [], []
        for wanted in config["layers"]:
            names = [n.strip() for n in wanted.split("|") if n.strip()]
            found = next((by_name[n] for n in names if n in by_name), None)
            if found is None:
                missing.append(" or ".join(names))
            else:
                chosen.append(found)
        if missing:
            raise RemoteError(url, f"layer(s) not offered by the service: {', '.join(missing)}",
                              200)
        return chosen
    prefixes = config.get("layer_prefixes") or [config.get("layer_prefix") or ""]
    for prefix in prefixes:
        chosen = [layer for layer in offered if layer["name"].startswith(prefix)]
        if chosen:
            return chosen
    raise RemoteError(
        url, f"no layer of the service starts with {' or '.join(repr(p) for p in prefixes)}"
        + (f" (excluding {', '.join(excluded)})" if excluded else ""), 200,
    )


def _epsg(crs: str) -> str | None:
    """``urn:ogc:def:crs:EPSG::2154`` or ``EPSG:2154`` → ``EPSG:2154``."""
    text = crs.strip()
    if not text:
        return None
    code = text.rsplit(":", 1)[-1]
    return f"EPSG:{code}" if code.isdigit() else text


@tk.blanket.config_declarations(declare_harvest_options)
class WfsHarvester(DataclicHarvester):
    name = "dataclic_wfs"
    title = "OGC WFS 2.0"
    description = (
        "Layers of an OGC WFS 2.0 service (INPN / PatriNat on the Géoplateforme…): one dataset "
        "per layer, features paged into a GeoJSON file, CRS recorded."
    )
    config_keys: ClassVar[dict[str, Check]] = {
        "layers": _text_list,
        "layer_prefix": _text,
        "layer_prefixes": _text_list,
        "exclude_layers": _text_list,
        "srs_name": _text,
        "page_size": _positive_int,
        "producer": _text,
    }

    def check_config(self, config: dict[str, Any]) -> None:
        given = [key for key in ("layers", "layer_prefix", "layer_prefixes") if key in config]
        if len(given) > 1:
            raise SourceConfigError(
                f"give only one of 'layers', 'layer_prefix' or 'layer_prefixes', "
                f"not {' and '.join(repr(k) for k in given)}"
            )

    def list_records(
        self, source_url: str, config: dict[str, Any], client: RemoteClient
    ) -> Iterator[RemoteRecord]:
        params = {"service": "WFS", "version": "2.0.0", "request": "GetCapabilities"}
        url = full_url(source_url, params)
        layers = parse_capabilities(client.get_bytes(source_url, params), url)
        for layer in choose_layers(layers, config, url):
            yield RemoteRecord(layer["name"], content=layer, url=url)

    def build_dataset(
        self, content: dict[str, Any], config: dict[str, Any], source_url: str,
        client: RemoteClient,
    ) -> DatasetDraft:
        layer = str(content["name"])
        crs = _epsg(config.get("srs_name", "EPSG:4326"))
        cap = config.get("max_bytes", client.limits.max_bytes)
        handle, name = tempfile.mkstemp(dir=staging_dir(), suffix=".geojson")
        os.close(handle)
        path = Path(name)
        pages = feature_pages(
            lambda params: client.get_json(source_url, params), source_url, layer,
            srs_name=config.get("srs_name", "EPSG:4326"),
            page_size=config.get("page_size", DEFAULT_PAGE_SIZE),
            max_pages=config.get("max_pages", client.limits.max_pages))
        head = {"type": "FeatureCollection", "name": layer,
                "crs": {"type": "name", "properties": {"name": crs}}}
        done = write_feature_collection(path, pages, url=source_url, head=head, cap=cap)
        count, properties = done.count, done.properties
        try:
            size, digest = path.stat().st_size, _sha256(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        slug = layer.replace(":", "-").lower()
        profile = profile_from_fields("geojson", [(k, "") for k in properties], crs=crs)
        extras = {"dataclic_remote_id": layer, "records_count": str(count),
                  "source_crs": _epsg(content.get("default_crs") or "") or "",
                  "producer": config.get("producer", "")}
        if content.get("bbox"):
            west, south, east, north = content["bbox"]
            extras["spatial_bbox"] = f"{west},{south},{east},{north}"
        title = str(content.get("title") or layer)
        return DatasetDraft(
            name_hint=slug,
            title=title,
            notes=str(content.get("abstract") or ""),
            remote_url=full_url(source_url, {"service": "WFS", "version": "2.0.0",
                                             "request": "GetCapabilities"}),
            license_id="etalab-2.0",
            tags=[str(k) for k in content.get("keywords") or []][:20],
            extras=extras,
            resources=[
                {"key": "file", "name": f"{slug}.geojson", "format": "GeoJSON",
                 "url": f"{slug}.geojson", "url_type": "upload", "size": size,
                 "hash": f"sha256:{digest}", "_local_file": str(path),
                 "dataclic_profile": profile, "description": f"{count} features ({crs})"},
                {"key": "wfs", "name": f"{title} (WFS)", "format": "WFS",
                 "url": source_url, "wfs_layer": layer,
                 "description": "The live OGC WFS 2.0 service."},
            ],
            identity=layer,
            records_count=count,
        )
