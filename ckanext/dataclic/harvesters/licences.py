"""Remote licence names and ids mapped to the licence ids of the portal."""

from __future__ import annotations

LICENCES = {
    "lov2": "etalab-2.0", "fr-lo": "etalab-2.0", "licence ouverte v2.0": "etalab-2.0",
    "licence ouverte / open licence": "etalab-2.0", "open licence": "etalab-2.0",
    "etalab-2.0": "etalab-2.0", "etalab 2.0": "etalab-2.0", "licence ouverte": "etalab-2.0",
    "odc-odbl": "odc-odbl", "odbl": "odc-odbl", "open database license (odbl)": "odc-odbl",
    "cc-by": "cc-by", "cc-by-4.0": "cc-by", "cc by 4.0": "cc-by", "cc-by-sa": "cc-by-sa",
    "cc-zero": "cc-zero", "cc0": "cc-zero", "notspecified": "notspecified",
}


def licence_id(remote: str | None) -> str | None:
    if not remote:
        return None
    return LICENCES.get(remote.strip().lower(), remote.strip()[:100])

