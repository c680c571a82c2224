"""Hub'Eau APIs (hydrometry, piezometry, river and drinking-water quality, ONDE…).

One dataset per configured endpoint (``v2/hydrometrie/referentiel/stations``…); the import
follows the API's ``next`` links (``count``/``next`` paging) into one CSV file.
"""

from __future__ import annotations

from typing import ClassVar

import ckan.plugins.toolkit as tk

from .base import declare_harvest_options
from .paged import PagedApiHarvester


@tk.blanket.config_declarations(declare_harvest_options)
class HubeauHarvester(PagedApiHarvester):
    name = "dataclic_hubeau"
    title = "Hub'Eau"
    description = (
        "Hub'Eau water APIs: one dataset per endpoint, every page of the national "
        "referential gathered into a CSV file (page and size caps)."
    )
    producer = "Hub'Eau (OFB, BRGM, offices de l'eau)"
    data_key = "data"
    size_param = "size"
    default_page_size = 5000
    default_tags: ClassVar[list[str]] = ["eau", "hub-eau"]
