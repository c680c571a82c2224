"""Commune codes and perimeter identifiers: parsing and validation (no data needed)."""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS: tuple[str, ...] = ("commune", "epci", "departement", "region", "communes")
SHOWN_INPUT_CHARS = 200  # an error never echoes more of what the user typed


def N_(message: str) -> str:
    """Marks a message template for translation (done by the caller, e.g. CKAN's
    ``toolkit._``): this package has no CKAN import."""
    return message


ACCEPTED_FORMS = N_(
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


ACCEPTED_FORMS_SENTENCE = N_("Accepted forms: {forms}.")


def shown(value: object) -> str:
    """How an input value appears in a message: quoted, at most 200 characters."""
    text = str(value)
    if len(text) > SHOWN_INPUT_CHARS:
        text = text[:SHOWN_INPUT_CHARS] + "…"
    return repr(text)


class PerimeterError(ValueError):
    """A perimeter identifier that is malformed or names no known territory.

    ``field`` names the offending part (``kind`` or ``code``) so callers can report it.
    ``template`` (an English message with ``{placeholders}``, marked for translation) and
    ``params`` let a caller translate the message; ``str()`` gives it in English.
    ``with_forms`` adds the accepted forms of perimeters.
    """

    def __init__(self, template: str, *, field: str = "id", with_forms: bool = False,
                 **params: object) -> None:
        self.template = template
        self.params = params
        self.field = field
        self.with_forms = with_forms
        super().__init__(self.render())

    def render(self, translate=lambda text: text) -> str:
        """The message, each template passed through ``translate`` (e.g. gettext)."""
        message = translate(self.template).format(**self.params)
        if self.with_forms:
            forms = translate(ACCEPTED_FORMS_SENTENCE).format(forms=translate(ACCEPTED_FORMS))
            message = f"{message}. {forms}"
        return message

    def detail(self) -> dict[str, object]:
        """What a caller stores to render the message later in another language (the form
        of ``ckanext.dataclic.extract.errors.render_detail``: templates and values)."""
        message = {"template": self.template,
                   "values": {k: str(v) for k, v in self.params.items()}}
        if not self.with_forms:
            return message
        forms = {"template": ACCEPTED_FORMS_SENTENCE, "values": {"forms": ACCEPTED_FORMS},
                 "translated_values": ["forms"]}
        return {"template": "{message}. {forms}", "values": {"message": message, "forms": forms}}


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


def _bad(template: str, field: str, **params: object) -> PerimeterError:
    return PerimeterError(template, field=field, with_forms=True,
                          **{k: shown(v) for k, v in params.items()})


def parse_perimeter_id(text: object) -> PerimeterId:
    """Check the syntax of ``kind:code`` (no data lookup)."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(N_("Perimeter is empty"), "id")
    raw = text.strip()
    if ":" not in raw:
        raise _bad(N_("Perimeter {value} has no kind (expected kind:code)"), "kind", value=raw)
    kind, _, code = raw.partition(":")
    kind = kind.strip().lower()
    code = code.strip()
    if kind not in KINDS:
        raise _bad(N_("Unknown perimeter kind {kind}"), "kind", kind=kind)
    if not code:
        raise _bad(N_("Perimeter {value} has an empty code"), "code", value=raw)
    if kind == "communes":
        parts = [c.strip().upper() for c in code.split(",")]
        if any(not c for c in parts):
            raise _bad(N_("Commune list {code} has an empty item"), "code", code=code)
        for part in parts:
            if not COMMUNE_CODE_RE.match(part):
                raise _bad(N_("Malformed commune code {code} in the commune list"), "code",
                           code=part)
        return PerimeterId(kind, tuple(sorted(set(parts))))
    code = code.upper()
    if kind == "commune" and not COMMUNE_CODE_RE.match(code):
        raise _bad(N_("Malformed commune code {code}: an INSEE code has 5 characters"),
                   "code", code=code)
    if kind == "epci" and not SIREN_RE.match(code):
        raise _bad(N_("Malformed EPCI SIREN {code}: a SIREN has exactly 9 digits"), "code",
                   code=code)
    if kind == "departement" and not DEPARTEMENT_RE.match(code):
        raise _bad(N_("Malformed département code {code}"), "code", code=code)
    if kind == "region" and not REGION_RE.match(code):
        raise _bad(N_("Malformed région code {code}"), "code", code=code)
    return PerimeterId(kind, (code,))
