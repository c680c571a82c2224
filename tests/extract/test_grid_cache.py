"""Coverage weights of a referential that is not the embedded one (the database-loaded
referential in CKAN) are cached by the contours' content: a second process with the same
contours reads them, a referential with changed contours computes its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from . import grid_fixtures as gf

# Runs in a fresh interpreter: a referential built like the database one (its own contour
# loader, no contour source), over Bordeaux Métropole's communes; with a third argument,
# Bordeaux's contour is shrunk (a reload with other contours).
SCRIPT = """
import json, sys
import shapely
from ckanext.dataclic.territories import Referential
from ckanext.dataclic.territories.embedded import read_cog
from ckanext.dataclic.extract.grid.engine import extract_grid

grid, cache, out = sys.argv[1:4]
changed = len(sys.argv) > 4
embedded = Referential.default()
codes = embedded.resolve("epci:243300316").communes
contours = embedded.commune_contours(codes)
if changed:
    contours["33063"] = shapely.affinity.scale(contours["33063"], 0.5, 0.5)
ref = Referential.from_cog_tables(read_cog(), contour_loader=lambda: dict(contours))
result = extract_grid(grid, ref.resolve("epci:243300316"), out, referential=ref,
                      cache_dir=cache)
print(json.dumps({"cached": result.report.weights_cached,
                  "computed": result.report.weights_computed,
                  "summary": result.report.summary_lines()}))
"""


def run(grid: Path, cache: Path, out: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(grid), str(cache), str(out),
                           *extra], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_share_the_weights_and_changed_contours_do_not(tmp_path):
    grid = gf.horizon_netcdf(tmp_path / "indicators.nc")
    cache = tmp_path / "cache"
    first = run(grid, cache, tmp_path / "a.csv")
    assert not first["cached"] and first["computed"] == 28
    second = run(grid, cache, tmp_path / "b.csv")
    assert second["cached"] and second["computed"] == 0
    assert "coverage weights: from the cache" in second["summary"]
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    changed = run(grid, cache, tmp_path / "c.csv", "changed")
    assert not changed["cached"] and changed["computed"] == 28
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "a.csv").read_bytes()
