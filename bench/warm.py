"""Time one tool's work in a process whose libraries are already loaded (a warm process).

    python bench/warm.py dataclic extract INPUT -t PERIMETER -o OUTPUT ...
    python bench/warm.py peer TOOL TASK INPUT OUTPUT PERIMETER_JSON

The file itself is cold (never seen by this process); what is left out is the interpreter
and library start-up, which a long-running worker (the portal's RQ worker) pays once.
The seconds of work are written as JSON to the file named by $BENCH_WORK_TIME.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# What each tool imports for its work; loaded before the clock starts.
PRELOAD = {
    "dataclic": ["numpy", "numpy.ma", "pyarrow", "pyarrow.csv", "pyarrow.compute", "shapely",
                 "pyogrio", "pyproj", "click",
                 "ckanext.dataclic.extract.cli", "ckanext.dataclic.extract.engine",
                 "ckanext.dataclic.extract.index", "ckanext.dataclic.extract.pointindex",
                 "ckanext.dataclic.extract.readers", "ckanext.dataclic.extract.writers",
                 "ckanext.dataclic.extract.spatial", "ckanext.dataclic.extract.perimeter_cache"],
    "polars": ["polars"],
    "polars+shapely": ["polars", "shapely"],
    "duckdb": ["duckdb", "duckdb_ext"],
    "pyarrow": ["pyarrow", "pyarrow.csv", "pyarrow.compute"],
    "python-csv": ["csv", "shapely"],
    "geopandas": ["geopandas", "pandas", "shapely", "pyogrio", "pyarrow.compute"],
    "pyogrio+shapely": ["pyogrio", "pyogrio.raw", "shapely", "pyarrow", "pyarrow.compute"],
}


def main() -> None:
    kind, args = sys.argv[1], sys.argv[2:]
    tool = "dataclic" if kind == "dataclic" else args[0]
    if kind == "dataclic":
        from ckanext.dataclic.extract.cli import _skip_pandas

        _skip_pandas()  # as the console script does
    for name in PRELOAD[tool]:
        importlib.import_module(name)
    if kind == "dataclic":
        from ckanext.dataclic.extract.cli import main as cli

        start = time.perf_counter()
        try:
            cli(args, standalone_mode=False)
        finally:
            elapsed = time.perf_counter() - start
    else:
        sys.path.insert(0, str(HERE))
        import extract_peers

        name, task, src, out, per_path = args
        per = extract_peers._perimeter(per_path)
        start = time.perf_counter()
        extract_peers.PEERS[(name, task)](src, out, per)
        elapsed = time.perf_counter() - start
    Path(os.environ["BENCH_WORK_TIME"]).write_text(json.dumps({"work_s": elapsed}))


if __name__ == "__main__":
    main()
