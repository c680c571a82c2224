"""``ckan dataclic territories load|status`` against the real database."""
from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import pytest
import shapely
from ckan.cli.cli import ckan as ckan_command

from ckanext.dataclic.model import active_referential, list_vintages

SHARED_COG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cog"


def run(cli, *args):
    return cli.invoke(ckan_command, ["dataclic", "territories", *args])


@pytest.mark.usefixtures("with_plugins", "territory_tables")
def test_status_before_any_load_reports_the_embedded_default(cli):
    result = run(cli, "status")
    assert result.exit_code == 0, result.output
    assert "embedded COG 2026" in result.output
    assert "communes without geometry: 98" in result.output


@pytest.mark.usefixtures("with_plugins", "territory_tables")
def test_load_is_idempotent_and_switches_the_active_vintage(cli):
    if not SHARED_COG.is_dir():
        pytest.skip(f"real COG not available: {SHARED_COG} is absent")
    first = run(cli, "load", "--source", str(SHARED_COG), "--vintage", "COG 2026 shared")
    assert first.exit_code == 0, first.output
    assert "communes: 34969" in first.output and "epci: 1255" in first.output
    # Reload while another connection keeps reading: every read sees a whole referential.
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def read_while_loading() -> None:
        from ckan import model

        query = ("SELECT v.name, (SELECT count(*) FROM dataclic_territory t "
                 "WHERE t.vintage = v.name) FROM dataclic_territory_vintage v WHERE v.active")
        while not stop.is_set():
            with model.meta.engine.connect() as conn:
                seen.extend(tuple(row) for row in conn.exec_driver_sql(query))
            time.sleep(0.05)

    reader = threading.Thread(target=read_while_loading)
    reader.start()
    try:
        again = run(cli, "load", "--source", str(SHARED_COG), "--vintage", "COG 2026 shared")
    finally:
        stop.set()
        reader.join()
    assert again.exit_code == 0 and again.output == first.output
    assert len(seen) > 3
    assert set(seen) == {("COG 2026 shared", 37_590 + 1_255 + 109 + 26)}
    assert [(v.name, v.active) for v in list_vintages()] == [("COG 2026 shared", True)]
    status = run(cli, "status")
    assert "Active referential: COG 2026 shared" in status.output
    referential = active_referential.get()
    assert referential.vintage == "COG 2026 shared"
    assert len(referential.resolve("epci:243300316").communes) == 28
    assert referential.current_commune("33092").code == "33008"
    assert not referential.resolve("commune:33063").geometry.is_empty
    # A fresh referential reads the contours of the perimeter it cuts, not all of France's.
    from ckan import model

    from ckanext.dataclic.model.territory import referential_from_db

    fresh = referential_from_db("COG 2026 shared")
    bm = fresh.resolve("epci:243300316")
    with model.meta.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT code, wkb FROM dataclic_territory_contour WHERE vintage = %s",
            ("COG 2026 shared",)).all()
    stored = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in rows}
    assert shapely.equals(bm.geometry, shapely.union_all([stored[c] for c in bm.communes]))
    assert fresh._contours is None
    assert shapely.equals(fresh.commune_geometry("33063"), stored["33063"])
    # The grid coverage-weights cache is keyed on the contours' content, computed in the
    # database: the same for every process reading them, another once a contour changes.
    key = fresh.contours_fingerprint()
    assert fresh._contours is None
    assert referential_from_db("COG 2026 shared").contours_fingerprint() == key
    with model.meta.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE dataclic_territory_contour SET wkb = %s WHERE vintage = %s AND code = %s",
            (shapely.to_wkb(shapely.box(0, 0, 1, 1)), "COG 2026 shared", "33063"))
    assert referential_from_db("COG 2026 shared").contours_fingerprint() != key


@pytest.mark.usefixtures("with_plugins", "territory_tables")
def test_a_corrupt_contour_file_writes_nothing(cli, tmp_path):
    broken = tmp_path / "contours.geojson.gz"
    broken.write_bytes(gzip.compress(b'{"type": "FeatureCollection", "features": [')[:30])
    result = run(cli, "load", "--vintage", "COG 2026 bad", "--contours", str(broken))
    assert result.exit_code != 0
    assert "referential in use is unchanged" in result.output
    assert "Traceback" not in result.output
    assert list_vintages() == []
    assert "embedded COG 2026" in run(cli, "status").output


@pytest.mark.usefixtures("with_plugins", "territory_tables")
def test_a_bad_source_is_a_clear_error(cli, tmp_path):
    result = run(cli, "load", "--source", str(tmp_path / "nowhere"))
    assert result.exit_code != 0 and "neither 'embedded' nor a folder" in result.output
    result = run(cli, "load", "--source", str(tmp_path))
    assert result.exit_code != 0 and "--vintage is required" in result.output
    result = run(cli, "load", "--source", str(tmp_path), "--vintage", "x")
    assert result.exit_code != 0 and "Cannot read" in result.output


def test_dataclic_group_offers_every_admin_command(cli):
    from ckanext.dataclic.cli import get_commands

    (group,) = get_commands()
    result = cli.invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("territories", "extract", "jobs", "purge", "refresh", "worker", "sources"):
        assert f"  {name} " in result.output, f"`ckan dataclic {name}` is missing"
