"""Fixtures of the territory tests: the embedded referential and the shared real data."""
from __future__ import annotations

from pathlib import Path

import pytest

from ckanext.dataclic.territories import Referential
from ckanext.dataclic.territories.sources import referential_from_decoupage

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real public data not available: {path} is absent (see shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def ref() -> Referential:
    return Referential.default()


@pytest.fixture(scope="session")
def shared_cog_ref() -> Referential:
    """The same COG 2026 read from ../shared/data/cog (the npm package's JSON, unchanged)."""
    return referential_from_decoupage(shared_file("cog"), vintage="COG 2026")
