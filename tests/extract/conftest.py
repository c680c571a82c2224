from __future__ import annotations

import csv
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def ref():
    from ckanext.dataclic.territories import Referential

    return Referential.default()


@pytest.fixture(scope="session")
def bordeaux(ref):
    return ref.resolve("epci:243300316")


@pytest.fixture(scope="session")
def gironde(ref):
    return ref.resolve("departement:33")


@pytest.fixture
def green() -> Path:
    folder = SHARED_DATA / "green"
    if not folder.is_dir():
        pytest.skip("../shared/data/green is absent (real public data used by these tests)")
    return folder


def read_csv_rows(path: Path, delimiter: str = ";") -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter))
    return rows[0], rows[1:]


@pytest.fixture(autouse=True, scope="session")
def _isolated_perimeter_cache(tmp_path_factory):
    """Console-script runs in these tests keep their perimeter cache in a temporary folder."""
    import os

    before = os.environ.get("DATACLIC_CACHE_DIR")
    os.environ["DATACLIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("dataclic-cache"))
    yield
    if before is None:
        os.environ.pop("DATACLIC_CACHE_DIR", None)
    else:
        os.environ["DATACLIC_CACHE_DIR"] = before
