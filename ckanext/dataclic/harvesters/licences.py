"""The licences French portals publish under, registered with CKAN's licence register, and
the mapping of every harvester's remote licence names and ids to them.

CKAN reads its licences from ``licenses_group_url`` or, when that is not set, from its
built-in list. When the portal has not set its own list, :func:`register_french_licences`
adds the ones below to the built-in list (Licence Ouverte 1.0 and 2.0, CC-BY 4.0,
CC-BY-SA 4.0; ODbL, CC0, CC-BY and CC-BY-SA are built in): a harvested dataset then shows
its licence's title and URL and counts as open. A portal with its own list keeps it
untouched; a remote licence its list does not have keeps the remote title and URL
(``dataclic_license_title`` / ``dataclic_license_url`` extras, shown by ``package_show``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LO_2 = "https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf"
# id → (title, URL); all of them approved open licences.
FRENCH_LICENCES: dict[str, tuple[str, str]] = {
    "etalab-2.0": ("Licence Ouverte / Open Licence 2.0", LO_2),
    "fr-lo": ("Licence Ouverte / Open Licence 1.0",
              "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf"),
    "cc-by-4.0": ("Creative Commons Attribution 4.0 (CC-BY 4.0)",
                  "https://creativecommons.org/licenses/by/4.0/"),
    "cc-by-sa-4.0": ("Creative Commons Attribution Share-Alike 4.0 (CC-BY-SA 4.0)",
                     "https://creativecommons.org/licenses/by-sa/4.0/"),
}
# Built into CKAN, named here for portals whose own list lacks them.
BUILT_IN: dict[str, tuple[str, str]] = {
    "odc-odbl": ("Open Data Commons Open Database License (ODbL)",
                 "https://opendatacommons.org/licenses/odbl/"),
    "cc-zero": ("Creative Commons CCZero", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "cc-by": ("Creative Commons Attribution", "https://creativecommons.org/licenses/by/"),
    "cc-by-sa": ("Creative Commons Attribution Share-Alike",
                 "https://creativecommons.org/licenses/by-sa/"),
    "notspecified": ("License not specified", ""),
    "other-open": ("Other (Open)", ""),
    "other-pd": ("Other (Public Domain)", ""),
    "other-at": ("Other (Attribution)", ""),
    "other-nc": ("Other (Non-Commercial)", ""),
    "other-closed": ("Other (Not Open)", ""),
}
KNOWN = {**BUILT_IN, **FRENCH_LICENCES}

# Remote ids and names (normalised: lower case, no accents, single spaces) → licence id.
LICENCES: dict[str, str] = {
    # data.gouv.fr (udata) ids
    "lov2": "etalab-2.0", "fr-lo": "fr-lo", "odc-odbl": "odc-odbl", "odc-by": "odc-by",
    "odc-pddl": "odc-pddl", "cc-by": "cc-by", "cc-by-sa": "cc-by-sa", "cc-zero": "cc-zero",
    "notspecified": "notspecified", "other-at": "other-at", "other-open": "other-open",
    "other-pd": "other-pd",
    # SPDX and other spellings
    "etalab-2.0": "etalab-2.0", "etalab 2.0": "etalab-2.0", "etalab-1.0": "fr-lo",
    "odbl": "odc-odbl", "odbl-1.0": "odc-odbl", "cc-by-4.0": "cc-by-4.0", "cc by 4.0": "cc-by-4.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0", "cc by-sa 4.0": "cc-by-sa-4.0", "cc by sa 4.0": "cc-by-sa-4.0",
    "cc0": "cc-zero", "cc0-1.0": "cc-zero", "cc0 1.0": "cc-zero", "cc-0": "cc-zero",
    "open database license (odbl)": "odc-odbl", "open database license": "odc-odbl",
}


@dataclass(frozen=True)
class Licence:
    """A dataset's licence: a register id, and the remote title/URL to keep when the
    portal's register does not know the id."""

    id: str | None
    title: str = ""
    url: str = ""


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.lower().replace("_", " ").split())


def _by_words(text: str) -> str | None:
    """Licence names as portals spell them (ODS ``license``, data-fair ``license.title``)."""
    if "licence ouverte" in text or "open licence" in text or "etalab" in text:
        if re.search(r"\b(v|version )?1(\.0)?\b", text) and not re.search(r"\b2(\.0)?\b", text):
            return "fr-lo"
        return "etalab-2.0"  # the current version when none is named
    if "odbl" in text or "open database licen" in text:
        return "odc-odbl"
    if "cc0" in text or "cc zero" in text or "cc-zero" in text or "public domain dedication" in text:
        return "cc-zero"
    by_sa = ("cc by-sa" in text or "cc-by-sa" in text or "cc by sa" in text
             or "attribution share" in text or "attribution-sharealike" in text)
    by = by_sa or "cc by" in text or "cc-by" in text or "creative commons attribution" in text
    if by and re.search(r"\b(nc|nd)\b", text.replace("-", " ")):
        return None  # non-commercial or no-derivatives: not an open licence, keep its name
    if by:
        four = bool(re.search(r"\b4(\.0)?\b", text))
        if by_sa:
            return "cc-by-sa-4.0" if four else "cc-by-sa"
        return "cc-by-4.0" if four else "cc-by"
    return None


def _by_url(url: str) -> str | None:
    text = url.lower()
    if "etalab" in text or "licence-ouverte" in text or "licence_ouverte" in text:
        return "fr-lo" if "2014" in text or "v1" in text else "etalab-2.0"
    if "opendatacommons.org/licenses/odbl" in text:
        return "odc-odbl"
    if "creativecommons.org/publicdomain/zero" in text:
        return "cc-zero"
    match = re.search(r"creativecommons\.org/licenses/(by|by-sa)/([\d.]+)", text)
    if match:
        kind, version = match.groups()
        suffix = "-4.0" if version.startswith("4") else ""
        return f"cc-{kind}{suffix}"
    return None


def licence_for(
    remote: str | None, title: str | None = None, url: str | None = None
) -> Licence:
    """The licence of a remote id or name (and title, URL when the source gives them)."""
    names = [n.strip() for n in (remote, title) if isinstance(n, str) and n.strip()]
    found = None
    for name in names:
        found = LICENCES.get(_normal(name)) or _by_words(_normal(name))
        if found:
            break
    if not found and url:
        found = _by_url(url)
    if found:
        return Licence(found)
    if not names:
        return Licence(None)
    slug = re.sub(r"[^a-z0-9.]+", "-", _normal(names[0])).strip("-")[:100] or "other"
    return Licence(slug, title=(title or remote or "").strip()[:200], url=(url or "").strip())


def licence_fields(licence: Licence) -> dict[str, str | None]:
    """The :class:`~.records.DatasetDraft` fields of a licence."""
    return {"license_id": licence.id, "license_title": licence.title,
            "license_url": licence.url}


def licence_id(remote: str | None) -> str | None:
    """The licence id of a remote id or name (see :func:`licence_for`)."""
    return licence_for(remote).id


def register_french_licences() -> None:
    """Add :data:`FRENCH_LICENCES` to CKAN's built-in licence list, unless the portal sets
    its own list (``licenses_group_url``) or turned this off. Idempotent."""
    import ckan.plugins.toolkit as tk
    from ckan import model
    from ckan.model.license import License

    if tk.config.get("licenses_group_url"):
        return
    if not tk.asbool(tk.config.get("ckanext.dataclic.harvest.french_licences", True)):
        return
    register = model.Package.get_license_register()
    known = set(register.keys())
    added = [
        License({"id": key, "title": title, "url": url, "od_conformance": "approved",
                 "osd_conformance": "not reviewed", "status": "active",
                 "family": "", "maintainer": "", "domain_content": True,
                 "domain_data": True, "domain_software": False})
        for key, (title, url) in FRENCH_LICENCES.items() if key not in known
    ]
    if added:
        register.licenses = register.licenses[:1] + added + register.licenses[1:]


def unknown_licence_extras(licence_id_: str | None, title: str, url: str) -> dict[str, str]:
    """Extras keeping a licence's title and URL when the portal's register lacks its id."""
    from ckan import model

    if not licence_id_ or model.Package.get_license_register().get(licence_id_) is not None:
        return {}
    known_title, known_url = KNOWN.get(licence_id_, ("", ""))
    return {"dataclic_license_title": title or known_title or licence_id_,
            "dataclic_license_url": url or known_url}
