"""Territory actions: errors wholly in the request's language, never a 500 for control
characters, never more than ~200 characters of the input echoed."""
from __future__ import annotations

import pytest

LONG = "commune:" + "9" * 5000


def get(app, action, lang="", **params):
    return app.get(f"{lang}/api/3/action/{action}", query_string=params)


def _echo_limit(message: str, typed: str) -> None:
    assert typed[:201] not in message
    assert len(message) < 1200, len(message)


@pytest.mark.usefixtures("with_plugins", "territory_tables")
class TestTerritoryInput:
    def test_unknown_commune_message_is_wholly_french(self, app):
        response = get(app, "dataclic_territory_show", lang="/fr", id="commune:99999")
        assert response.status_code == 409
        [message] = response.json["error"]["id"]
        assert message == ("Identifiant de territoire invalide : Commune '99999' inconnue "
                           "dans le référentiel COG 2026")
        english = get(app, "dataclic_territory_show", id="commune:99999").json
        assert english["error"]["id"] == [
            "Invalid territory identifier: Unknown commune '99999' in the COG 2026 referential"]

    def test_malformed_perimeter_lists_the_accepted_forms_in_french(self, app):
        [message] = get(app, "dataclic_territory_show", lang="/fr",
                        id="canton:12").json["error"]["id"]
        assert message.startswith("Identifiant de territoire invalide : Type de périmètre "
                                  "inconnu 'canton'. Formes acceptées : commune:<code INSEE")
        for english in ("Unknown", "Accepted", "digits", "e.g."):
            assert english not in message

    def test_long_input_is_not_echoed_in_full(self, app):
        response = get(app, "dataclic_territory_show", id=LONG)
        assert response.status_code == 409
        _echo_limit(response.json["error"]["id"][0], LONG[8:])

    @pytest.mark.parametrize("value", ["bord\x00eaux", "\x00", "\x1b[31m", "a\x7f"])
    def test_control_characters_never_give_a_500(self, app, value):
        search = get(app, "dataclic_territory_search", q=value)
        assert search.status_code in (200, 409), search.status_code
        show = get(app, "dataclic_territory_show", id=f"commune:{value}")
        assert show.status_code == 409, show.status_code
        assert show.json["success"] is False
