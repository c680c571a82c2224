#!/usr/bin/env python3
"""Benchmark of the territory referential (figures printed, nothing asserted).

    .venv/bin/python bench/territories_bench.py
    .venv/bin/python bench/territories_bench.py --api test.ini   # also the API search p95

Targets (2 cores): whole embedded referential loaded < 60 s with peak RSS < 1 GB; codes and
names < 1.5 s; resolving a perimeter to its code set < 1 ms warm; a département's union
geometry < 2 s cold then cached; library search p95 < 30 ms.
"""
from __future__ import annotations

import resource
import statistics
import sys
import time


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


QUERIES = ["st emilion", "bordeaux met", "bordeaux", "33063", "33000", "243300316",
           "paris", "marseille 1", "s", "sa", "sai", "saint", "saint e", "la", "le",
           "lyon", "toulouse", "ste foy", "val de", "communaute", "cc", "2a", "974",
           "rennes metropole", "montpellier", "aix", "nice", "l abergement", "mont",
           "a", "b", "ch", "vil", "ville", "pont", "grand", "nouvelle aquitaine"]


def p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def api_search(ini: str) -> None:
    """p95 of /api/3/action/dataclic_territory_search through CKAN's WSGI app (no network)."""
    from ckan.cli import load_config
    from ckan.config.middleware import make_app

    app = make_app(load_config(ini))
    client = app.test_client()
    client.get("/api/3/action/dataclic_territory_search", query_string={"q": "x"})
    timings = []
    for _ in range(5):
        for query in QUERIES:
            t0 = time.perf_counter()
            response = client.get("/api/3/action/dataclic_territory_search",
                                  query_string={"q": query})
            timings.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.data
    print(f"API search ({len(timings)} requests): median {ms(statistics.median(timings))}, "
          f"p95 {ms(p95(timings))}")


def main() -> None:
    start = time.perf_counter()
    from ckanext.dataclic.territories import Referential

    ref = Referential.default()
    codes_loaded = time.perf_counter() - start
    print(f"load codes and names (import + COG tables): {codes_loaded:.2f} s")

    start = time.perf_counter()
    ref.contours()
    print(f"load embedded contours ({len(ref.contours())} communes): "
          f"{time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    ref.search_index()
    print(f"build search index: {time.perf_counter() - start:.2f} s")

    perimeters = ["commune:33063", "epci:243300316", "departement:33", "region:75",
                  "commune:75056", "communes:33063,33281,33318", "departement:2A"]
    for perimeter in perimeters:
        ref.resolve(perimeter)
    timings = []
    for _ in range(200):
        for perimeter in perimeters:
            t0 = time.perf_counter()
            ref.resolve(perimeter).codes  # noqa: B018 - the access is what is measured
            timings.append(time.perf_counter() - t0)
    print(f"resolve warm ({len(timings)} calls): median {ms(statistics.median(timings))}, "
          f"max {ms(max(timings))}")
    t0 = time.perf_counter()
    ref._perimeter_cache.clear()
    ref.resolve("region:75")
    print(f"resolve cold region:75 (4,300 communes): {ms(time.perf_counter() - t0)}")

    for dep in ("33", "2A", "974", "59"):
        t0 = time.perf_counter()
        geometry = ref.resolve(f"departement:{dep}").geometry
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref.resolve(f"departement:{dep}").geometry  # noqa: B018
        warm = time.perf_counter() - t0
        print(f"département {dep} union geometry: cold {cold:.3f} s, cached {ms(warm)} "
              f"({geometry.geom_type}, valid={geometry.is_valid})")
    t0 = time.perf_counter()
    ref.resolve("region:75").geometry  # noqa: B018
    print(f"région 75 union geometry cold: {time.perf_counter() - t0:.2f} s")

    queries = QUERIES
    search_timings = []
    for _ in range(5):
        for query in queries:
            t0 = time.perf_counter()
            ref.search(query, limit=10)
            search_timings.append(time.perf_counter() - t0)
    print(f"search ({len(search_timings)} queries): median "
          f"{ms(statistics.median(search_timings))}, p95 {ms(p95(search_timings))}, "
          f"max {ms(max(search_timings))}")

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kb / 1024:.0f} MB")


if __name__ == "__main__":
    main()
    if len(sys.argv) > 2 and sys.argv[1] == "--api":
        api_search(sys.argv[2])
