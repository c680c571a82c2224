"""Territorial harvest vs "national harvest, then extract", against national-size fixtures.

A local server (this process, threads) serves data made on the fly by
``bench/national_fixtures.py`` (never all of it in memory):
- a DPE-like table (``--rows``, communes drawn by population) behind a data-fair-like API:
  ``/lines`` with ``<col>_in`` and ``after`` cursor paging, and ``/raw`` (the whole CSV,
  written once to a temporary file and streamed);
- points over metropolitan France (``--points``) behind a WFS-like GetFeature with ``bbox``
  and ``count``/``startIndex`` paging.

Each approach runs as its own child process doing what a harvest's build step does for one
dataset (download, then the local check or the extraction with the engine), so its wall time,
bytes received and peak RSS are its own:
- territorial: ``server_filters`` (server filter) then ``local_cut`` (exact local check);
- national: the whole file (``/raw``; for the WFS, every GetFeature page into one GeoJSON,
  with the WFS harvester's paging), then the engine's extraction to the same territory.
Both must keep exactly the rows the fixture module expects (computed from the COG files).

    .venv/bin/python bench/territorial_harvest_bench.py                  # national size
    .venv/bin/python bench/territorial_harvest_bench.py --link-mbps 100  # a real network
    .venv/bin/python bench/territorial_harvest_bench.py --rows 1000000 --points 300000  # quick

National size (the default): 12 M rows (about 1.1 GB of CSV) and 3 M points; it needs about
2.5 GB of free disk in the temporary folder and takes several minutes.
Targets (issue 13): wall-time ratio ≤ 0.1, bytes ratio ≤ 0.05, peak RSS of the fetch ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PERIMETER = "epci:243300316"  # Bordeaux Métropole
SIREN = PERIMETER.split(":")[1]
PAGE = 10_000

sys.path.insert(0, str(Path(__file__).resolve().parent))
from national_fixtures import DpeTable, PointLayer


# -- the server ------------------------------------------------------------------------------------
class Fixture:
    def __init__(self, csv_path: Path, table: DpeTable, points: PointLayer,
                 link_mbps: float = 0.0) -> None:
        self.csv_path, self.table, self.points = csv_path, table, points
        self.bytes_per_s = link_mbps * 1e6 / 8
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.endswith("/raw"):
                    size = fixture.csv_path.stat().st_size
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    with open(fixture.csv_path, "rb") as stream:
                        while chunk := stream.read(1 << 18):
                            fixture.send(self.wfile, chunk)
                    return
                extra: dict[str, str] = {"Content-Type": "application/json"}
                if parts.path.endswith("/lines"):
                    body, extra = fixture.lines(parts.path, query)
                else:
                    body = fixture.wfs(query)
                self.send_response(200)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 1 << 18):
                    fixture.send(self.wfile, body[start:start + (1 << 18)])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def send(self, out: Any, chunk: bytes) -> None:
        """Write at the simulated link speed (``--link-mbps``; 0: as fast as loopback)."""
        started = time.perf_counter()
        out.write(chunk)
        if self.bytes_per_s:
            time.sleep(max(0.0, len(chunk) / self.bytes_per_s - (time.perf_counter() - started)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def lines(self, path: str, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """``after`` is a cursor: the number of the last row sent (as data-fair's sort keys);
        ``format=csv`` gives CSV with the next page in a ``Link`` header, as data-fair."""
        import numpy as np

        size = int(query["size"])
        codes = query["code_insee_ban_in"].split(",") if "code_insee_ban_in" in query else None
        selected = self.table.select(codes)
        start = int(np.searchsorted(selected, int(query["after"]), side="right")) \
            if "after" in query else 0
        page = selected[start:start + size]
        following = None
        if start + size < len(selected):
            params = {k: v for k, v in query.items() if k != "after"}
            following = f"{self.url}{path}?{urlencode({**params, 'after': int(page[-1])})}"
        if query.get("format") == "csv":
            link = {"Link": f'<{following}>; rel="next"'} if following else {}
            return self.table.page_csv(page), {"Content-Type": "text/csv", **link}
        return (f'{{"total": {len(selected)}, "next": {json.dumps(following)}, "results": '
                .encode() + self.table.page_json(page) + b"}",
                {"Content-Type": "application/json"})

    def wfs(self, query: dict[str, str]) -> bytes:
        bbox = None
        if "bbox" in query:  # EPSG:4326 URN: latitude first
            south, west, north, east = (float(v) for v in query["bbox"].split(",")[:4])
            bbox = (west, south, east, north)
        index = self.points.select(bbox)
        start, count = int(query["startIndex"]), int(query["count"])
        chunk = index[start:start + count]
        return (f'{{"type":"FeatureCollection","numberMatched":{len(index)},'
                f'"numberReturned":{len(chunk)},"features":['
                f'{self.points.features_json(chunk)}]}}').encode()


# -- the measured children --------------------------------------------------------------------------
def child(kind: str, approach: str, url: str, folder: str) -> None:
    """One build, as a harvest's import stage does it; prints a JSON line of figures."""
    from ckanext.dataclic.extract.profile import ProfileOverrides
    from ckanext.dataclic.harvesters.local_cut import cut
    from ckanext.dataclic.harvesters.metered import Meter, download
    from ckanext.dataclic.harvesters.server_filters import datafair_lines, wfs_features
    from ckanext.dataclic.remote import HostPolicy, RemoteClient, RemoteLimits
    from ckanext.dataclic.territories import Referential

    # A fetch consumer keeps its referential loaded: warm it before the clock starts.
    ref = Referential.default()
    perimeter = ref.resolve(PERIMETER)
    work = Path(folder)
    _warm(kind, perimeter, ref, work)
    baseline = _rss_mb("VmRSS")
    started = time.perf_counter()
    client = RemoteClient(RemoteLimits(max_bytes=8 << 30, max_pages=100_000, deadline=3600),
                          HostPolicy(frozenset({"127.0.0.1"})))
    meter = Meter()
    if kind == "table":
        lines = f"{url}/data-fair/api/v1/datasets/dpe/lines"
        if approach == "territorial":
            staged = datafair_lines(client, lines, perimeter, meter, work,
                                    code_column="code_insee_ban", geo=False, page_size=PAGE,
                                    cap=8 << 30)
            source = staged.path
            overrides = ProfileOverrides(code_column="code_insee_ban")
        else:
            source = work / "national.csv"
            download(client, f"{url}/data-fair/api/v1/datasets/dpe/raw", source, meter,
                     cap=8 << 30)
            overrides = ProfileOverrides(code_column="code_insee_ban", delimiter=";")
        result = cut(source, perimeter, ref, work, ("csv",), mode="filter",
                     overrides=overrides)
    else:
        if approach == "territorial":
            staged = wfs_features(client, f"{url}/wfs", "sites", meter, work,
                                  perimeter=perimeter, layer_crs="EPSG:4326", how="bbox",
                                  geometry_name="geom", srs_name="EPSG:4326", page_size=PAGE,
                                  max_pages=100_000, cap=8 << 30)
            source = staged.path
        else:
            source = _national_wfs(client, f"{url}/wfs", work, meter)
        result = cut(source, perimeter, ref, work, ("geojson", "gpkg"), mode="intersects")
    elapsed = time.perf_counter() - started
    rss = _rss_mb("VmHWM")  # this process's peak (ru_maxrss would carry the parent's)
    print(json.dumps({"wall_s": elapsed, "bytes": meter.bytes, "requests": meter.requests,
                      "rows_kept": result.rows_kept, "peak_rss_mb": rss,
                      "baseline_rss_mb": baseline}))


def _warm(kind: str, perimeter: Any, ref: Any, work: Path) -> None:
    """What a fetch consumer has done before its next dataset: libraries imported, the
    perimeter's codes (and, for geometry, contours) ready. One tiny cut does it."""
    from ckanext.dataclic.extract.profile import ProfileOverrides
    from ckanext.dataclic.harvesters.local_cut import cut

    if kind == "table":
        tiny = work / "warm.csv"
        tiny.write_text("code_insee_ban,x\n33063,1\n75056,2\n", encoding="utf-8")
        done = cut(tiny, perimeter, ref, work, ("csv",), mode="filter",
                   overrides=ProfileOverrides(code_column="code_insee_ban"))
    else:
        tiny = work / "warm.geojson"
        tiny.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"id": 1},
             "geometry": {"type": "Point", "coordinates": [-0.57, 44.84]}}]}), encoding="utf-8")
        done = cut(tiny, perimeter, ref, work, ("geojson", "gpkg"), mode="intersects")
    for path in [tiny, *done.files.values()]:
        path.unlink()


def _rss_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _national_wfs(client: Any, url: str, work: Path, meter: Any) -> Path:
    """Every GetFeature page into one GeoJSON file, with the WFS harvester's paging."""
    from ckanext.dataclic.harvesters.metered import get_json
    from ckanext.dataclic.harvesters.wfs_paging import feature_pages, write_feature_collection

    path = work / "national.geojson"
    pages = feature_pages(lambda params: get_json(client, url, params, meter), url, "sites",
                          srs_name="EPSG:4326", page_size=PAGE, max_pages=100_000)
    write_feature_collection(path, pages, url=url, cap=8 << 30,
                             head={"type": "FeatureCollection", "name": "sites"})
    return path


def run_child(kind: str, approach: str, url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dataclic-bench-") as folder:
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, approach, url, folder],
            capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind}/{approach} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_000_000,
                        help="rows of the DPE-like table (default: 12 M, about 1.1 GB of CSV)")
    parser.add_argument("--points", type=int, default=3_000_000, help="points behind the WFS")
    parser.add_argument("--link-mbps", type=float, default=0.0,
                        help="simulated link speed of the national API in Mbit/s, per "
                             "connection (default: unthrottled loopback)")
    parser.add_argument("--only", choices=("table", "wfs"), help="run one source only")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from national_fixtures import epci_members, territory_contour

    members = epci_members(SIREN)
    with tempfile.TemporaryDirectory(prefix="dataclic-bench-data-") as folder:
        made = time.perf_counter()
        kinds = [k for k in ("table", "wfs") if args.only in (None, k)]
        dpe = DpeTable(args.rows if "table" in kinds else 0)
        csv_path = Path(folder) / "dpe.csv"
        dpe.write_csv(csv_path)
        points = PointLayer(args.points if "wfs" in kinds else 0)
        expected = {"table": dpe.expected(members),
                    "wfs": points.expected(territory_contour(members))}
        fixture = Fixture(csv_path, dpe, points, args.link_mbps)
        size = csv_path.stat().st_size
        print(f"fixtures: {args.rows:,} rows ({size / 2**20:.0f} MiB CSV), {args.points:,} "
              f"points, made in {time.perf_counter() - made:.0f} s; territory {PERIMETER} "
              f"(expected: {expected['table']:,} rows, {expected['wfs']:,} points); "
              f"link {'loopback' if not args.link_mbps else f'{args.link_mbps:g} Mbit/s'}",
              flush=True)
        table = []
        labels = {"table": f"data-fair table, {args.rows:,} rows ({size / 2**30:.2f} GiB CSV)",
                  "wfs": f"WFS, {args.points:,} points"}
        for kind in kinds:
            territorial = run_child(kind, "territorial", fixture.url)
            national = run_child(kind, "national", fixture.url)
            for name, fig in (("territorial", territorial), ("national", national)):
                if fig["rows_kept"] != expected[kind]:
                    raise SystemExit(f"{kind}: {name} kept {fig['rows_kept']} rows, "
                                     f"{expected[kind]} expected")
            table.append((labels[kind], territorial, national))
        fixture.httpd.shutdown()
    print()
    print("| source | approach | wall s | MiB received | requests | peak RSS MiB "
          "(referential loaded: base) | rows kept |")
    print("|---|---|---|---|---|---|---|")
    for label, territorial, national in table:
        for name, fig in (("territorial", territorial), ("national + extract", national)):
            print(f"| {label} | {name} | {fig['wall_s']:.2f} | {fig['bytes'] / 2**20:.1f} | "
                  f"{fig['requests']} | {fig['peak_rss_mb']:.0f} "
                  f"(base {fig['baseline_rss_mb']:.0f}) | {fig['rows_kept']:,} |")
    print()
    print("| source | wall-time ratio (≤ 0.1) | bytes ratio (≤ 0.05) | territorial peak RSS "
          "(≤ 300 MB) |")
    print("|---|---|---|---|")
    for label, territorial, national in table:
        print(f"| {label} | {territorial['wall_s'] / national['wall_s']:.3f} | "
              f"{territorial['bytes'] / national['bytes']:.4f} | "
              f"{territorial['peak_rss_mb']:.0f} MiB |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
