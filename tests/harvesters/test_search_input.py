"""The harvest source pages and the harvest source search answer a clear 400, in the
portal's language, to control characters; never a 500."""
from __future__ import annotations

import pytest

from .conftest import harvest_marks

pytestmark = harvest_marks


@pytest.mark.parametrize("param", ["q", "sort", "tags", "res_format", "organization"])
def test_harvest_page_refuses_control_characters_in_french(app, param):
    value = "title asc\x00" if param == "sort" else "source\x00"
    french = app.get("/fr/harvest/", query_string={param: value})
    assert french.status_code == 400, french.status_code
    assert "caractère de contrôle" in french.body
    english = app.get("/harvest/", query_string={param: value})
    assert english.status_code == 400 and "control character" in english.body


@pytest.mark.parametrize("value", ["source\x00", "\x01\x02"])
def test_harvest_source_search_api_refuses_control_characters(app, value):
    response = app.get("/api/3/action/package_search",
                       query_string={"q": value, "fq": "+dataset_type:harvest"})
    assert response.status_code == 400
    assert "control character" in response.json["error"]["message"]
    listing = app.get("/api/3/action/harvest_source_list")
    assert listing.status_code == 200
