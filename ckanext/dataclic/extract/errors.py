"""The one exception type the extraction engine raises for bad input.

A message is plain English, one line, meant to be shown to the user as is. Raise sites that
want it translated by a caller (the CKAN glue renders it in the request's language) give a
*template* with ``{placeholders}`` and the values apart::

    raise ExtractionError(N_("No variable {name} in the file; it has {names}"),
                          name=name, names=names)

``str()`` is always the English text. :meth:`ExtractionError.detail` is a JSON-serialisable
``{"template", "values"}`` that :func:`render_message` turns into the message in any
language, given a translation function (gettext). Templates are marked for extraction into
the message catalogue with :func:`N_` (a keyword of scripts/i18n.sh). Lists among the values
are joined with ", ". A plain message (an f-string, no values) still works: it is its own template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def N_(message: str) -> str:
    """Marks an engine message template for the message catalogue; returns it unchanged."""
    return message


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_message(template: str, values: dict[str, Any] | None,
                   translate: Callable[[str], str] = lambda text: text,
                   translated_values: Iterable[str] = ()) -> str:
    """``template`` translated, then filled with ``values`` (those named in
    ``translated_values`` are messages too, translated first); the English text when the
    translation does not fit the values."""
    values = dict(values or {})
    english = template.format(**values) if values else template
    try:
        for key in translated_values:
            if key in values:
                values[key] = translate(values[key])
        translated = translate(template)
        return translated.format(**values) if values else translated
    except (KeyError, IndexError, ValueError):
        return english


class ExtractionError(ValueError):
    """Raised for any input, option or perimeter problem."""

    def __init__(self, message: str = "", /, *, translated_values: Iterable[str] = (),
                 **values: Any) -> None:
        self.template = message if isinstance(message, str) else str(message)
        self.values = {k: _text(v) for k, v in values.items()}
        self.translated_values = tuple(translated_values)
        super().__init__(render_message(self.template, self.values))

    def __reduce__(self) -> Any:  # pickled with its template (RQ, multiprocessing)
        return (_rebuild, (self.template, self.values, self.translated_values))

    def detail(self) -> dict[str, Any]:
        """What a caller stores to render the message later in another language."""
        return {"template": self.template, "values": dict(self.values),
                "translated_values": list(self.translated_values)}

    def render(self, translate: Callable[[str], str] = lambda text: text) -> str:
        return render_message(self.template, self.values, translate, self.translated_values)


def render_detail(detail: dict[str, Any],
                  translate: Callable[[str], str] = lambda text: text) -> str:
    """The message of a stored :meth:`ExtractionError.detail`, through ``translate``."""
    return render_message(str(detail.get("template") or ""), detail.get("values"), translate,
                          detail.get("translated_values") or ())


def _rebuild(template: str, values: dict[str, Any],
             translated_values: tuple[str, ...]) -> ExtractionError:
    return ExtractionError(template, translated_values=translated_values, **values)
