"""Commune codes and perimeter identifiers: parsing and validation (no data needed)."""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS: tuple[str, ...] = ("commune", "epci", "departement", "region", "communes")

ACCEPTED_FORMS = (
    "commune:<INSEE code, 5 characters, e.g. 33063, 2A004, 97411>, "
    "epci:<SIREN, 9 digits, e.g. 243300316>, "
    "departement:<code, e.g. 33, 2A, 974>, "
    "region:<code, e.g. 75>, "
    "communes:<comma-separated INSEE codes, e.g. communes:33063,33281>"
)

COMMUNE_CODE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
SIREN_RE = re.compile(r"^\d{9}$")
DEPARTEMENT_RE = re.compile(r"^(?:\d{2}|2[AB]|97\d|98\d)$")
REGION_RE = re.compile(r"^\d{2,3}$")


class PerimeterError(ValueError):
    """A perimeter identifier that is malformed or names no known territory.

    ``field`` names the offending part (``kind`` or ``code``) so callers can report it.
    """

    def __init__(self, message: str, *, field: str = "id") -> None:
        super().__init__(message)
        self.field = field


def normalise_code(code: str, *, pad: bool = True) -> str:
    """Canonical form of a commune code as found in data: ``" 1001 "`` -> ``"01001"``.

    Spaces are stripped, Corsican letters upper-cased; with ``pad`` a purely numeric
    4-character code (a leading zero lost by a spreadsheet) gets its zero back.
    """
    text = str(code).strip().replace(" ", "").upper()
    if pad and len(text) == 4 and text.isdigit():
        text = "0" + text
    return text


@dataclass(frozen=True)
class PerimeterId:
    kind: str
    codes: tuple[str, ...]

    @property
    def code(self) -> str:
        return ",".join(self.codes)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.code}"


def _bad(message: str, field: str) -> PerimeterError:
    return PerimeterError(f"{message}. Accepted forms: {ACCEPTED_FORMS}.", field=field)


def parse_perimeter_id(text: object) -> PerimeterId:
    """Check the syntax of ``kind:code`` (no data lookup)."""
    if not isinstance(text, str) or not text.strip():
        raise _bad("Perimeter is empty", "id")
    raw = text.strip()
    if ":" not in raw:
        raise _bad(f"Perimeter {raw!r} has no kind (expected kind:code)", "kind")
    kind, _, code = raw.partition(":")
    kind = kind.strip().lower()
    code = code.strip()
    if kind not in KINDS:
        raise _bad(f"Unknown perimeter kind {kind!r}", "kind")
    if not code:
        raise _bad(f"Perimeter {raw!r} has an empty code", "code")
    if kind == "communes":
        parts = [c.strip().upper() for c in code.split(",")]
        if any(not c for c in parts):
            raise _bad(f"Commune list {code!r} has an empty item", "code")
        for part in parts:
            if not COMMUNE_CODE_RE.match(part):
                raise _bad(f"Malformed commune code {part!r} in the commune list", "code")
        return PerimeterId(kind, tuple(sorted(set(parts))))
    code = code.upper()
    if kind == "commune" and not COMMUNE_CODE_RE.match(code):
        raise _bad(
            f"Malformed commune code {code!r}: an INSEE code has 5 characters", "code"
        )
    if kind == "epci" and not SIREN_RE.match(code):
        raise _bad(f"Malformed EPCI SIREN {code!r}: a SIREN has exactly 9 digits", "code")
    if kind == "departement" and not DEPARTEMENT_RE.match(code):
        raise _bad(f"Malformed département code {code!r}", "code")
    if kind == "region" and not REGION_RE.match(code):
        raise _bad(f"Malformed région code {code!r}", "code")
    return PerimeterId(kind, (code,))
