"""The console script's perimeter cache gives the same extractions as the referential."""

from __future__ import annotations

import pytest

from ckanext.dataclic.extract import ProfileOverrides, extract, perimeter_cache


@pytest.fixture
def cached(tmp_path_factory, monkeypatch, ref, bordeaux):
    monkeypatch.setenv("DATACLIC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    perimeter_cache.store(ref, bordeaux, alias="EPCI:243300316")
    hit = perimeter_cache.load("epci:243300316")
    assert hit is not None
    return hit


def test_cached_perimeter_and_codes_match_the_referential(cached, ref, bordeaux):
    cref, cper = cached
    assert (cper.id, cper.name, cper.codes, cper.communes) == (
        bordeaux.id, bordeaux.name, bordeaux.codes, bordeaux.communes)
    assert cper.geometry.equals(bordeaux.geometry)
    for code in ["33063", "33110", "1053", "01053", "2A004", "2a004", " 33281 ", "99999",
                 "75101", "97411", "00000", "abc", ""]:
        assert cref.is_known_code(code) == ref.is_known_code(code), code
    for code in bordeaux.codes:
        got, want = cref.current_commune(code), ref.current_commune(code)
        assert (got.code, got.name, got.epci_siren, got.departement_code) == (
            want.code, want.name, want.epci_siren, want.departement_code)
    assert cref.resolve("commune:33063").geometry.equals(
        ref.resolve("commune:33063").geometry)
    assert perimeter_cache.load("EPCI:243300316") is not None  # the alias typed by a user


def test_extractions_with_the_cache_are_identical(cached, tmp_path, ref, bordeaux, green):
    cref, cper = cached
    src = tmp_path / "in.csv"
    src.write_text("code_insee;v\n33063;a\n33110;b\n 33281 ;c\n75056;d\n99999;e\n1053;f\n",
                   encoding="utf-8")
    a = extract(src, bordeaux, tmp_path / "a.csv", referential=ref, enrich=True)
    b = extract(src, cper, tmp_path / "b.csv", referential=cref, enrich=True)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    fields = ("rows_read", "rows_kept", "rows_unknown_code", "unknown_codes", "rows_remapped")
    assert [getattr(a.report, f) for f in fields] == [getattr(b.report, f) for f in fields]
    hub = green / "hubeau_piezometrie_stations_national_brgm.json"
    a = extract(hub, bordeaux, tmp_path / "a.geojson", referential=ref, enrich=True)
    b = extract(hub, cper, tmp_path / "b.geojson", referential=cref, enrich=True)
    assert (tmp_path / "a.geojson").read_bytes() == (tmp_path / "b.geojson").read_bytes()


def test_a_new_referential_version_invalidates_the_cache(cached, monkeypatch):
    monkeypatch.setattr(perimeter_cache, "data_fingerprint", lambda: "another-version")
    assert perimeter_cache.load("epci:243300316") is None


def test_the_geometry_in_a_source_crs_is_kept_for_the_next_run(cached, tmp_path, ref,
                                                               bordeaux):
    """The console script's cache keeps the perimeter as it was reprojected for a
    Lambert-93 file; the next run reads it back and selects exactly the same features."""
    import shapely

    from ckanext.dataclic.extract.spatial import perimeter_in

    cref, cper = cached
    direct = perimeter_in(bordeaux.geometry, "EPSG:2154")
    assert cper.geometry_in("EPSG:2154").equals_exact(direct, 0)
    kept = list(perimeter_cache.cache_dir().rglob("*EPSG_2154.wkb"))
    assert len(kept) == 1
    _, again = perimeter_cache.load("epci:243300316")
    assert shapely.from_wkb(kept[0].read_bytes()).equals_exact(direct, 0)
    assert again.geometry_in("EPSG:2154").equals_exact(direct, 0)
    # An extraction from a Lambert-93 file through the cache equals one through the
    # referential.
    src = tmp_path / "l93.csv"
    src.write_text("id;x;y\n1;417000;6421000\n2;652000;6862000\n3;411000;6433000\n",
                   encoding="utf-8")
    ov = ProfileOverrides(lat_column="y", lon_column="x", crs="EPSG:2154")
    a = extract(src, bordeaux, tmp_path / "a.csv", referential=ref, mode="intersects",
                overrides=ov)
    b = extract(src, again, tmp_path / "b.csv", referential=cref, mode="intersects",
                overrides=ov)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert a.report.rows_kept == b.report.rows_kept == 2
