"""Benchmark: the extraction engine against peer tools, side by side, in one run.

    .venv/bin/python bench/extract_bench.py --scale 0.05          # quick
    .venv/bin/python bench/extract_bench.py --scale 1 --only W1   # full W1 (1.2 GB CSV)

Each tool runs as its own process (start-up included), ``--repeat`` times; the table shows
the median wall time, the peak RSS, the ratio to the best peer and to ``cat INPUT >
/dev/null``, and whether the kept rows (count and a checksum of their ids) agree with the
engine's. Generated inputs go to bench/data/, outputs to bench/out/ (both git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PY = sys.executable
DATACLIC = str(Path(PY).with_name("dataclic"))
PEERS = str(HERE / "extract_peers.py")
WARM = str(HERE / "warm.py")
WORK_TIME = OUT / "work_time.json"

sys.path.insert(0, str(HERE))


@dataclass
class Tool:
    name: str
    argv: list[str]
    output: Path | None
    engine: bool = False
    variant: bool = False  # another mode of the engine: not a peer
    times: list[float] = field(default_factory=list)
    warm_times: list[float] = field(default_factory=list)
    rss_mib: float = 0.0
    rows: int | None = None
    checksum: str = ""
    error: str = ""


class Spawner:
    """Runs the timed commands from a small helper process. Linux keeps a process's peak
    RSS across exec, so a child forked from this (large) runner would report the runner's
    memory; children forked from a fresh, tiny interpreter report their own."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([PY, __file__, "--spawner"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "BENCH_WORK_TIME": str(WORK_TIME)})

    def run(self, argv: list[str]) -> tuple[float, float, int, str]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        r = json.loads(self.proc.stdout.readline())
        return r["wall"], r["rss_mib"], r["rc"], r["err"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def spawner_loop() -> None:
    for line in sys.stdin:
        argv = json.loads(line)
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        sys.stdout.write(json.dumps({"wall": wall, "rss_mib": usage.ru_maxrss / 1024,
                                     "rc": proc.returncode, "err": err[-400:]}) + "\n")
        sys.stdout.flush()


SPAWNER: Spawner | None = None


def run_measured(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall time (s), peak RSS (MiB), exit code and stderr tail of one process."""
    assert SPAWNER is not None
    return SPAWNER.run(argv)


def warm_argv(tool: Tool) -> list[str] | None:
    """The same work in a process whose libraries are loaded first (bench/warm.py)."""
    if tool.argv[0] == DATACLIC and tool.output is not None:
        return [PY, WARM, "dataclic", *tool.argv[1:]]
    if tool.argv[:2] == [PY, PEERS]:
        return [PY, WARM, "peer", *tool.argv[2:]]
    return None


def run_warm(tool: Tool, repeat: int) -> None:
    argv = warm_argv(tool)
    if argv is None or tool.error:
        return
    for _ in range(repeat):
        if tool.output is not None and tool.output.exists():
            tool.output.unlink()
        if WORK_TIME.exists():
            WORK_TIME.unlink()
        _, _, rc, err = run_measured(argv)
        if rc != 0 or not WORK_TIME.exists():
            tool.error = "warm run: " + (err.strip().splitlines()[-1] if err.strip()
                                         else f"exit {rc}")
            return
        tool.warm_times.append(json.loads(WORK_TIME.read_text())["work_s"])


def cat_time(path: Path, repeat: int) -> float:
    """Median time of ``cat INPUT > /dev/null`` with the file in the page cache (one
    untimed read first, then at least three timed ones): the read limit every tool faces."""
    times = []
    for i in range(max(3, repeat) + 1):
        with open(os.devnull, "wb") as null:
            start = time.perf_counter()
            subprocess.run(["cat", str(path)], stdout=null, check=True)
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def kept_ids(path: Path, id_column: str) -> list[str]:
    if path.suffix == ".csv":
        import polars as pl

        sep = ";" if ";" in path.open(encoding="utf-8").readline() else ","
        return pl.read_csv(path, separator=sep, infer_schema=False,
                           columns=[id_column])[id_column].to_list()
    import pyogrio

    _, table = pyogrio.read_arrow(path, columns=[id_column], read_geometry=False)
    return [str(v) for v in table.column(id_column).to_pylist()]


def checksum(ids: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()[:12]


def perimeter_file(perimeter_id: str, src_crs: str, code_column: str | None) -> Path:
    """Codes, WGS84 WKT and source-CRS WKT of a perimeter, for the peers; plus a GeoPackage
    of the perimeter for ogr2ogr -clipsrc."""
    import numpy as np
    import pyogrio
    import shapely
    from pyproj import Transformer

    from ckanext.dataclic.territories import Referential

    per = Referential.default().resolve(perimeter_id)
    geom = per.geometry
    geom_src = geom
    if src_crs != "EPSG:4326":
        tr = Transformer.from_crs("EPSG:4326", src_crs, always_xy=True)
        geom_src = shapely.transform(geom, lambda c: np.column_stack(tr.transform(c[:, 0],
                                                                              c[:, 1])))
    name = perimeter_id.replace(":", "_") + "_" + src_crs.replace(":", "")
    path = OUT / f"perimeter_{name}.json"
    gpkg = OUT / f"perimeter_{name}.gpkg"
    data = {"id": per.id, "codes": sorted(per.codes), "code_column": code_column,
            "wkt": geom.wkt, "wkt_src": geom_src.wkt, "bounds_src": list(geom_src.bounds),
            "gpkg": str(gpkg)}
    path.write_text(json.dumps(data), encoding="utf-8")
    if not gpkg.exists():
        import geopandas as gpd

        pyogrio.write_dataframe(gpd.GeoDataFrame({"id": [per.id]}, geometry=[geom_src],
                                                 crs=src_crs), gpkg)
    return path


def peer(name: str, task: str, src: Path, out: Path, per: Path) -> Tool:
    return Tool(name, [PY, PEERS, name, task, str(src), str(out), str(per)], out)


def workload_w1(scale: float) -> tuple[Path, str, list[Tool]]:
    import generate

    src = generate.generate_w1(scale)
    per = perimeter_file("epci:243300316", "EPSG:4326", "code_insee_ban")
    codes = json.loads(per.read_text())["codes"]
    o = OUT / "w1"
    o.mkdir(parents=True, exist_ok=True)
    where = "code_insee_ban IN (" + ",".join(f"'{c}'" for c in codes) + ")"
    index = src.with_name(src.name + ".dataclic-index")
    if index.exists():
        shutil.rmtree(index)
    tools = [
        Tool("dataclic", [DATACLIC, "extract", str(src), "-t", "epci:243300316", "--no-index",
                          "-o", str(o / "dataclic.csv")], o / "dataclic.csv", engine=True),
        peer("polars", "codes", src, o / "polars.csv", per),
        peer("duckdb", "codes", src, o / "duckdb.csv", per),
        peer("pyarrow", "codes", src, o / "pyarrow.csv", per),
        peer("python-csv", "codes", src, o / "python-csv.csv", per),
        Tool("ogr2ogr", ["ogr2ogr", "-f", "CSV", str(o / "ogr2ogr.csv"), str(src),
                         "-where", where, "-lco", "SEPARATOR=SEMICOLON",
                         "-oo", "AUTODETECT_TYPE=NO"], o / "ogr2ogr.csv"),
        # Indexed extraction: the one-off index, then extractions that read only their rows.
        Tool("dataclic index (one-off)", [DATACLIC, "index", str(src)], None, variant=True),
        Tool("dataclic indexed", [DATACLIC, "extract", str(src), "-t", "epci:243300316",
                                  "-o", str(o / "dataclic-indexed.csv")],
             o / "dataclic-indexed.csv", variant=True),
    ]
    return src, "numero_dpe", tools


def workload_w2(scale: float, kind: str) -> tuple[Path, str, list[Tool]]:
    import generate

    paths = generate.generate_w2(scale)
    src = paths[kind]
    per = perimeter_file("departement:33", "EPSG:4326", None)
    gpkg = json.loads(per.read_text())["gpkg"]
    o = OUT / f"w2_{kind}"
    o.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        index = src.with_name(src.name + ".dataclic-index")
        if index.exists():
            shutil.rmtree(index)
        tools = [
            Tool("dataclic", [DATACLIC, "extract", str(src), "-t", "departement:33",
                              "--mode", "intersects", "--no-index",
                              "-o", str(o / "dataclic.csv")],
                 o / "dataclic.csv", engine=True),
            peer("polars+shapely", "points_csv", src, o / "polars.csv", per),
            peer("duckdb", "points_csv", src, o / "duckdb.csv", per),
            peer("geopandas", "points_csv", src, o / "geopandas.csv", per),
            peer("python-csv", "points_csv", src, o / "python-csv.csv", per),
            Tool("ogr2ogr", ["ogr2ogr", "-f", "CSV", str(o / "ogr2ogr.csv"), str(src),
                             "-oo", "X_POSSIBLE_NAMES=longitude",
                             "-oo", "Y_POSSIBLE_NAMES=latitude", "-oo", "AUTODETECT_TYPE=NO",
                             "-oo", "KEEP_GEOM_COLUMNS=YES", "-clipsrc", gpkg,
                             "-lco", "SEPARATOR=SEMICOLON"], o / "ogr2ogr.csv"),
            Tool("dataclic index (one-off)", [DATACLIC, "index", str(src)], None,
                 variant=True),
            Tool("dataclic indexed", [DATACLIC, "extract", str(src), "-t", "departement:33",
                                      "--mode", "intersects",
                                      "-o", str(o / "dataclic-indexed.csv")],
                 o / "dataclic-indexed.csv", variant=True),
        ]
    else:
        tools = [
            Tool("dataclic", [DATACLIC, "extract", str(src), "-t", "departement:33",
                              "--mode", "intersects", "-o", str(o / "dataclic.gpkg")],
                 o / "dataclic.gpkg", engine=True),
            peer("pyogrio+shapely", "features", src, o / "pyogrio.gpkg", per),
            peer("geopandas", "features", src, o / "geopandas.gpkg", per),
            peer("duckdb", "features", src, o / "duckdb.gpkg", per),
            Tool("ogr2ogr", ["ogr2ogr", "-f", "GPKG", str(o / "ogr2ogr.gpkg"), str(src),
                             "-spat", *map(str, json.loads(per.read_text())["bounds_src"]),
                             "-clipsrc", gpkg], o / "ogr2ogr.gpkg"),
        ]
    return src, "ident", tools


def workload_w3(scale: float) -> tuple[Path, str, list[Tool]]:
    import generate

    src = generate.generate_w3(scale)
    per = perimeter_file("epci:243300316", "EPSG:2154", None)
    data = json.loads(per.read_text())
    o = OUT / "w3"
    o.mkdir(parents=True, exist_ok=True)
    tools = [
        Tool("dataclic", [DATACLIC, "extract", str(src), "-t", "epci:243300316", "--mode",
                          "clip", "--out-crs", "EPSG:2154", "-o", str(o / "dataclic.gpkg")],
             o / "dataclic.gpkg", engine=True),
        peer("pyogrio+shapely", "clip", src, o / "pyogrio.gpkg", per),
        peer("geopandas", "clip", src, o / "geopandas.gpkg", per),
        peer("duckdb", "clip", src, o / "duckdb.gpkg", per),
        Tool("ogr2ogr", ["ogr2ogr", "-f", "GPKG", str(o / "ogr2ogr.gpkg"), str(src),
                         "-spat", *map(str, data["bounds_src"]), "-clipsrc", data["gpkg"],
                         "-nlt", "PROMOTE_TO_MULTI"], o / "ogr2ogr.gpkg"),
    ]
    return src, "ident", tools


def warm_perimeter_cache(tools: list[Tool]) -> None:
    """Resolve the perimeter once, untimed: the console script keeps resolved perimeters in
    its cache (~/.cache/dataclic), which is what a user's second run sees."""
    for tool in tools:
        if tool.engine and "-t" in tool.argv:
            probe = OUT / "warm.csv"
            probe.write_text("code_insee;v\n33063;a\n", encoding="utf-8")
            subprocess.run([DATACLIC, "extract", str(probe), "-t",
                            tool.argv[tool.argv.index("-t") + 1], "-o", str(OUT / "warm.out.csv")],
                           check=False, capture_output=True)


def run_workload(label: str, src: Path, id_column: str, tools: list[Tool], repeat: int,
                 skip: set[str], warm: bool = False) -> dict:
    warm_perimeter_cache(tools)
    cat = cat_time(src, repeat)
    for tool in tools:
        if tool.name in skip:
            tool.error = "skipped"
            continue
        for _ in range(1 if tool.output is None else repeat):
            if tool.output is not None and tool.output.exists():
                tool.output.unlink()
            wall, rss, rc, err = run_measured(tool.argv)
            if rc != 0:
                tool.error = err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"
                break
            tool.times.append(wall)
            tool.rss_mib = max(tool.rss_mib, rss)
        if not tool.error and tool.output is not None:
            try:
                ids = kept_ids(tool.output, id_column)
                tool.rows, tool.checksum = len(ids), checksum(ids)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                tool.error = f"unreadable output: {exc}"
        if warm:
            run_warm(tool, repeat)
    table = report_table(label, src, cat, tools)
    if warm:
        table["warm"] = report_warm_table(label, cat, tools)
    return table


def report_warm_table(label: str, cat: float, tools: list[Tool]) -> list[dict]:
    """Work time in a warm process: libraries loaded, the file never seen."""
    peer_times = [statistics.median(t.warm_times) for t in tools
                  if t.warm_times and not t.engine and not t.variant]
    peer_times += [statistics.median(t.times) for t in tools if t.name == "ogr2ogr" and t.times]
    best = min(peer_times, default=None)
    print(f"\n### {label}, warm process (libraries loaded, file cold; ogr2ogr: its whole "
          f"process), cat {cat:.3f} s")
    print("| tool | median s | × best peer | × cat |")
    print("|---|---|---|---|")
    rows = []
    for t in tools:
        if t.warm_times:
            med = statistics.median(t.warm_times)
        elif t.name == "ogr2ogr" and t.times:
            med = statistics.median(t.times)
        else:
            continue
        ratio = f"{med / best:.2f}" if best and (t.engine or t.variant) else "–"
        print(f"| {t.name} | {med:.3f} | {ratio} | {med / cat:.1f} |")
        rows.append({"tool": t.name, "median_s": round(med, 4), "times": t.warm_times,
                     "ratio_best_peer": round(med / best, 3) if best else None,
                     "ratio_cat": round(med / cat, 2)})
    return rows


def report_table(label: str, src: Path, cat: float, tools: list[Tool]) -> dict:
    done = [t for t in tools if t.times]
    engine = next((t for t in done if t.engine), None)
    peers = [t for t in done if not t.engine and not t.variant]
    best = min((statistics.median(t.times) for t in peers), default=None)
    size = src.stat().st_size / (1 << 20)
    print(f"\n## {label}: {src.name} ({size:,.0f} MiB), cat {cat:.3f} s")
    print("| tool | median s | peak RSS MiB | × best peer | × cat | rows | ids checksum | agrees |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for t in tools:
        if not t.times:
            print(f"| {t.name} | – | – | – | – | – | – | {t.error} |")
            rows.append({"tool": t.name, "error": t.error})
            continue
        med = statistics.median(t.times)
        agrees = engine is not None and (t.rows, t.checksum) == (engine.rows, engine.checksum)
        if t.output is None:
            print(f"| {t.name} | {med:.3f} | {t.rss_mib:.0f} | – | {med / cat:.1f} | – | – "
                  f"| – |")
            rows.append({"tool": t.name, "median_s": round(med, 4),
                         "peak_rss_mib": round(t.rss_mib, 1)})
            continue
        ratio_best = f"{med / best:.2f}" if best else "–"
        print(f"| {t.name} | {med:.3f} | {t.rss_mib:.0f} | {ratio_best} | {med / cat:.1f} | "
              f"{t.rows} | {t.checksum} | {'yes' if agrees else 'NO ' + t.error} |")
        rows.append({"tool": t.name, "median_s": round(med, 4), "times": t.times,
                     "peak_rss_mib": round(t.rss_mib, 1), "rows": t.rows,
                     "checksum": t.checksum, "agrees_with_engine": agrees,
                     "ratio_best_peer": round(med / best, 3) if best else None,
                     "ratio_cat": round(med / cat, 2)})
    return {"workload": label, "input": str(src), "size_mib": round(size, 1),
            "cat_s": round(cat, 4), "tools": rows}


def compile_engine() -> None:
    """Byte-compile the extension, as a regular pip install does for every package (the
    peers' included). An editable install compiles on first import instead, and not at all
    under PYTHONDONTWRITEBYTECODE: each timed process would then compile the engine's
    sources again (about 80 ms here)."""
    import compileall

    compileall.compile_dir(str(HERE.parent / "ckanext"), quiet=1)


def main() -> None:
    global SPAWNER
    if sys.argv[1:] == ["--spawner"]:
        spawner_loop()
        return
    SPAWNER = Spawner()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.05,
                        help="fraction of the full size (1 = 1.2 GB W1, 3 M points, 300 k "
                             "polygons)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="W1,W2-csv,W2-gpkg,W2-fgb,W3",
                        help="comma-separated workloads")
    parser.add_argument("--warm", action="store_true",
                        help="also time each Python tool's work in a process whose libraries "
                             "are already loaded (bench/warm.py), as a portal's worker runs")
    parser.add_argument("--skip", default="", help="comma-separated tools to leave out "
                        "(e.g. ogr2ogr,python-csv,geopandas at full size)")
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        print("note: ogr2ogr not found (Debian: apt-get install gdal-bin); it is skipped")
    skip = {s for s in args.skip.split(",") if s}
    if shutil.which("ogr2ogr") is None:
        skip.add("ogr2ogr")
    OUT.mkdir(parents=True, exist_ok=True)
    compile_engine()
    results = []
    for label in [w.strip() for w in args.only.split(",") if w.strip()]:
        if label == "W1":
            src, idc, tools = workload_w1(args.scale)
        elif label.startswith("W2-"):
            src, idc, tools = workload_w2(args.scale, label[3:])
        elif label == "W3":
            src, idc, tools = workload_w3(args.scale)
        else:
            parser.error(f"unknown workload {label}")
        results.append(run_workload(label, src, idc, tools, args.repeat, skip, args.warm))
    SPAWNER.close()
    out = OUT / f"extract_bench_{args.scale:g}.json"
    out.write_text(json.dumps({"scale": args.scale, "repeat": args.repeat,
                               "results": results}, indent=2), encoding="utf-8")
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
