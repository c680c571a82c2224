"""Benchmark: per-commune statistics of climate grids for the whole of France.

Builds, in a scratch folder, a DRIAS-like indicator file (3 horizons x 15 indicators) and a
daily-like file (365 x N years of daily steps) on the SAFRAN 8 km grid (south-up y, 2-D
lat/lon, LambertParisII grid mapping), then times, each in its own process (wall time and
peak RSS of that process), with all ~34,900 communes of the embedded referential:

  dataclic stats, cold  : weights computed (no cache) + statistics of every layer
  dataclic stats, cached: weights read from the cache + statistics of every layer
  exactextract          : exact_extract() on a north-up GeoTIFF of the same layers
                          (mean/min/max/count), called directly, same run
  rasterstats           : zonal_stats() (centroid rule) on band 1, then x layers
  EPCI from the daily file: the console script, Bordeaux Métropole, long CSV

For the daily file, exactextract runs on ``--ee-daily-bands`` bands (a GeoTIFF of all
steps would be as large as the file) and the time is scaled to all steps; the table says so.
dataclic computes every statistic of every step but writes none of the national daily
values (35,000 x 10,950 x 4 numbers is not a file anyone downloads); its CSV writing is
timed on the indicator file.

    python bench/grid_bench.py [--years 30] [--ee-daily-bands 30] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NX, NY, RES, X0, Y0 = 143, 134, 8000.0, 60_000.0, 1_617_000.0
INDICATORS = ["NORTAV", "NORTNAV", "NORTXAV", "NORTX35", "NORTR", "NORTXHWD", "NORTNFD",
              "NORRR", "NORRR1MM", "NORPQ90", "NORPFL90", "NORPXCDD", "NORPINT", "NORHUSAV",
              "NORETPC"]
HORIZONS = ["H1", "H2", "H3"]


# -- data ---------------------------------------------------------------------------------
def land_mask() -> np.ndarray:
    """South-up land mask: cells whose centre falls in a commune (like SAFRAN's ~9,000)."""
    import shapely

    from ckanext.dataclic.extract.spatial import reproject
    from ckanext.dataclic.territories.embedded import read_contours

    _, geoms = read_contours()
    france = shapely.union_all(shapely.simplify(reproject(geoms, "EPSG:4326", "EPSG:27572"),
                                                200))
    xx, yy = np.meshgrid(X0 + np.arange(NX) * RES, Y0 + np.arange(NY) * RES)
    inside = shapely.contains_xy(france, xx.ravel(), yy.ravel()).reshape(NY, NX)
    return inside | shapely.intersects_xy(france.buffer(4000), xx, yy)


def base_dataset(land: np.ndarray) -> dict:
    from pyproj import Transformer

    xs, ys = X0 + np.arange(NX) * RES, Y0 + np.arange(NY) * RES
    xx, yy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs("EPSG:27572", "EPSG:4326", always_xy=True).transform(xx, yy)
    gm = {"grid_mapping_name": "lambert_conformal_conic_1SP", "latitude_of_origin": 52.0,
          "central_meridian": 0.0, "scale_factor": 0.9998774, "false_easting": 600000.0,
          "false_northing": 2200000.0, "epsg": "27572"}
    return {"xs": xs, "ys": ys, "lat": lat, "lon": lon, "gm": gm, "land": land}


def write_indicators(path: Path, base: dict) -> np.ndarray:
    import xarray as xr

    rng = np.random.default_rng(1)
    data, layers = {}, []
    for k, name in enumerate(INDICATORS):
        arr = (rng.random((3, NY, NX)) * 40 + k).astype(np.float32)
        arr[:, ~base["land"]] = np.nan
        data[name] = (("horizon", "y", "x"), arr,
                      {"grid_mapping": "LambertParisII", "coordinates": "lat lon"})
        layers.extend(arr)
    ds = xr.Dataset(
        {**data, "lat": (("y", "x"), base["lat"]), "lon": (("y", "x"), base["lon"]),
         "LambertParisII": ((), np.int32(0), base["gm"])},
        coords={"horizon": ("horizon", np.array(HORIZONS, dtype=object)),
                "x": ("x", base["xs"], {"standard_name": "projection_x_coordinate"}),
                "y": ("y", base["ys"], {"standard_name": "projection_y_coordinate"})},
        attrs={"Conventions": "CF-1.6"})
    ds.to_netcdf(path, engine="h5netcdf",
                 encoding={n: {"zlib": True, "complevel": 1} for n in INDICATORS})
    return np.stack(layers)  # south-up (layers, NY, NX)


def write_daily(path: Path, base: dict, steps: int) -> None:
    """tasmaxAdjust(time, y, x), float32, zlib level 1, chunks of 64 days, written in slabs
    (h5netcdf directly, so the generator itself stays small)."""
    import h5netcdf

    rng = np.random.default_rng(2)
    with h5netcdf.File(path, "w") as f:
        f.attrs["Conventions"] = "CF-1.6"
        f.dimensions = {"time": steps, "y": NY, "x": NX}
        for name, values, attrs in (
                ("x", base["xs"], {"standard_name": "projection_x_coordinate", "units": "m"}),
                ("y", base["ys"], {"standard_name": "projection_y_coordinate", "units": "m"}),
                ("time", np.arange(steps, dtype=np.float64) + 20454.5,
                 {"units": "days since 1950-01-01", "calendar": "standard"})):
            v = f.create_variable(name, (name,), data=values)
            v.attrs.update(attrs)
        gm = f.create_variable("LambertParisII", (), dtype="i4")
        gm.attrs.update(base["gm"])
        for name in ("lat", "lon"):
            f.create_variable(name, ("y", "x"), data=base[name])
        var = f.create_variable("tasmaxAdjust", ("time", "y", "x"), dtype="f4",
                                chunks=(64, NY, NX), compression="gzip",
                                compression_opts=1, fillvalue=np.float32(1e20))
        var.attrs.update({"grid_mapping": "LambertParisII", "units": "K",
                          "coordinates": "lat lon"})
        seasonal = np.sin(np.arange(steps) * 2 * np.pi / 365.25)
        for s in range(0, steps, 365):
            n = min(365, steps - s)
            slab = (285 + 10 * seasonal[s:s + n, None, None] +
                    rng.standard_normal((n, NY, NX)) * 3).astype(np.float32)
            slab[:, ~base["land"]] = 1e20
            var[s:s + n] = slab


def write_geotiff(path: Path, layers: np.ndarray) -> None:
    """North-up GeoTIFF of south-up layers (what exactextract and rasterstats read)."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=NX, height=NY, count=len(layers),
                       dtype="float32", crs="EPSG:27572", nodata=np.nan,
                       transform=from_origin(56_000.0, 2_685_000.0, RES, RES),
                       tiled=True, blockxsize=144, blockysize=144) as dst:
        dst.write(layers[:, ::-1, :].astype(np.float32))


# -- tasks (each run in its own process) ------------------------------------------------------
class France:
    id, kind, code, name, vintage = "france", "pays", "FR", "France", ""

    def __init__(self, ref) -> None:
        self.communes = tuple(sorted(ref.communes))  # contours load only if weights are due
        self.codes = frozenset(self.communes)
        self.geometry = None


def communes_gdf():
    import geopandas as gpd

    from ckanext.dataclic.extract.spatial import reproject
    from ckanext.dataclic.territories.embedded import read_contours

    codes, geoms = read_contours()
    return gpd.GeoDataFrame({"code": codes},
                            geometry=reproject(geoms, "EPSG:4326", "EPSG:27572"),
                            crs="EPSG:27572")


def task_dataclic(src: str, cache: str, out: str) -> dict:
    """Engine API, whole of France: weights (from ``cache`` if filled) then every layer.
    With ``out`` a wide CSV is written; without, statistics are computed and dropped."""
    from ckanext.dataclic.extract.grid import engine, outputs
    from ckanext.dataclic.territories import Referential

    ref = Referential.default()
    france = France(ref)
    if out:
        engine.extract_grid(src, france, out, referential=ref, wide=True, threshold=30.0,
                            cache_dir=cache)
        return {"communes": len(france.communes)}
    seen = {"blocks": 0}

    def consume(path, units, labels, stats, blocks, delimiter):  # the writer, minus writing
        for _block in blocks:
            seen["blocks"] += 1
        path.touch()
        return 0

    outputs.write_long_csv = consume
    engine.extract_grid(src, france, str(Path(cache) / "discarded.csv"), referential=ref,
                        threshold=30.0, cache_dir=cache)
    return {"communes": len(france.communes), "blocks": seen["blocks"]}


def task_exactextract(tif: str) -> dict:
    from exactextract import exact_extract

    gdf = communes_gdf()
    t = time.perf_counter()
    df = exact_extract(tif, gdf, ["mean", "min", "max", "count"], output="pandas")
    return {"rows": len(df), "columns": len(df.columns),
            "exact_extract_s": round(time.perf_counter() - t, 2)}


def task_rasterstats(tif: str) -> dict:
    import rasterio
    from rasterstats import zonal_stats

    gdf = communes_gdf()
    with rasterio.open(tif) as src:
        band, affine = src.read(1), src.transform
    t = time.perf_counter()
    res = zonal_stats(list(gdf.geometry), band, affine=affine, nodata=np.nan,
                      stats=["mean", "min", "max", "count"])
    empty = sum(1 for r in res if r["mean"] is None)
    return {"empty": empty, "zonal_stats_s": round(time.perf_counter() - t, 2)}


def child(argv: list[str]) -> None:
    started = time.perf_counter()
    name, *args = argv
    extra = {"dataclic": task_dataclic, "exactextract": task_exactextract,
             "rasterstats": task_rasterstats}[name](*args)
    print(json.dumps({"wall": time.perf_counter() - started, "rss_mib": peak_rss_mib(),
                      **extra}))


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over
    fork and exec, so a child would report its parent's (large) peak."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(*args: str) -> dict:
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(Path(sys.executable).parent /
                                                             "dataclic"), *args],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[0]}
    return {"wall": wall, "rss_mib": int(proc.stderr.strip().splitlines()[-1]) / 1024}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", type=int, default=30, help="years of 365 daily steps")
    parser.add_argument("--ee-daily-bands", type=int, default=30,
                        help="daily steps given to exactextract (time scaled to all steps)")
    parser.add_argument("--ee-bands", type=int, default=3,
                        help="indicator layers given to exactextract and rasterstats (time "
                             "scaled to all 45)")
    parser.add_argument("--folder", type=Path, help="scratch folder (default: a temp one)")
    parser.add_argument("--only", default="ind,peers,daily,daily-peer,epci",
                        help="groups to run: ind (dataclic, indicator file), peers "
                             "(exactextract, rasterstats), daily (dataclic, daily file), "
                             "daily-peer (exactextract, daily), epci (console script)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="grid-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    steps = 365 * args.years
    t = time.perf_counter()
    land_path = folder / "land.npy"
    if not land_path.exists():
        np.save(land_path, land_mask())
    base = base_dataset(np.load(land_path))
    ind_nc, daily_nc = folder / "indicators.nc", folder / "tasmaxAdjust_day.nc"
    layers = write_indicators(ind_nc, base)
    write_geotiff(folder / "indicators.tif", layers[:args.ee_bands])
    if not daily_nc.exists():
        write_daily(daily_nc, base, steps)
    import xarray as xr

    with xr.open_dataset(daily_nc) as ds:
        first = ds["tasmaxAdjust"].isel(time=slice(0, args.ee_daily_bands)).values
    write_geotiff(folder / "daily_part.tif", first)
    print(f"data: {int(base['land'].sum())} land cells; {len(layers)} indicator layers; "
          f"{steps} daily steps ({daily_nc.stat().st_size / 2**20:.0f} MiB compressed, "
          f"{steps * NX * NY * 4 / 2**20:.0f} MiB raw); built in {time.perf_counter() - t:.0f} s",
          flush=True)
    cache = folder / "cache"
    rows: list[tuple[str, str, dict, float]] = []

    def add(label: str, what: str, res: dict, scale: float = 1.0) -> None:
        if "wall" in res:  # scale the peer's own work, not its start-up
            inner = res.get("exact_extract_s") or res.get("zonal_stats_s") or 0.0
            res["wall"] += inner * (scale - 1)
        rows.append((label, what, res, scale))
        wall = res.get("wall")
        print(f"  {label:<48} {what:<34} "
              + (f"{wall:8.1f} s  {res['rss_mib']:6.0f} MiB" if wall else str(res)),
              flush=True)

    import shutil

    only = set(args.only.split(","))
    if "ind" in only:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir()
        add("dataclic stats, cold (weights + 45 layers)", "computed, not written",
            run("dataclic", str(ind_nc), str(cache), ""))
        add("dataclic stats, cached weights (45 layers)", "computed, not written",
            run("dataclic", str(ind_nc), str(cache), ""))
        add("dataclic stats, cached weights (45 layers)", "wide CSV written",
            run("dataclic", str(ind_nc), str(cache), str(folder / "france_wide.csv")))
    n = len(layers)
    rs: dict = {}
    if "peers" in only:
        add(f"exactextract 0.3 (GeoTIFF, {args.ee_bands} bands) x {n / args.ee_bands:g}",
            "mean/min/max/count, scaled",
            run("exactextract", str(folder / "indicators.tif")), n / args.ee_bands)
        rs = run("rasterstats", str(folder / "indicators.tif"))
        add(f"rasterstats (1 band) x {n}", "mean/min/max/count, centroid", rs, n)
    if "daily" in only:
        shutil.rmtree(cache)
        cache.mkdir()
        add(f"dataclic stats, cold, daily ({steps} steps)", "computed, not written",
            run("dataclic", str(daily_nc), str(cache), ""))
        add("dataclic stats, cached weights, daily", "computed, not written",
            run("dataclic", str(daily_nc), str(cache), ""))
    if "daily-peer" in only:
        ee = run("exactextract", str(folder / "daily_part.tif"))
        add(f"exactextract ({args.ee_daily_bands} bands) x {steps / args.ee_daily_bands:.0f}",
            "scaled to all steps", ee, steps / args.ee_daily_bands)
    if "epci" in only:
        env_cache = folder / "cli-cache"
        shutil.rmtree(env_cache, ignore_errors=True)
        os.environ["DATACLIC_CACHE_DIR"] = str(env_cache)
        for label in ("EPCI 243300316 from the daily file, cold", "EPCI, warm caches"):
            add(label, "CLI, long CSV (all steps)",
                run_cli("extract", str(daily_nc), "-t", "epci:243300316", "--mode", "stats",
                        "-o", str(folder / "bm_daily.csv"), "--threshold", "308.15"))
    if rs:
        print(f"\nrasterstats left {rs.get('empty', '?')} of ~34,900 communes without a "
              "value (no cell centre inside).")
    print("\n| task | output | wall (s) | peak RSS (MiB) |\n|---|---|---:|---:|")
    for label, what, res, scale in rows:
        if "wall" in res:
            print(f"| {label} | {what} | {res['wall']:.1f} | {res['rss_mib']:.0f} |")
        else:
            print(f"| {label} | {what} | error: {res.get('error')} | |")


if __name__ == "__main__":
    main()
