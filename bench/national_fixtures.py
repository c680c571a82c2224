"""National-size fixture data for bench/territorial_harvest_bench.py, generated on the fly.

Nothing national is held in memory: a DPE-like row is a function of its number (and of its
commune, drawn once, 2 bytes a row); a point is a function of its number (drawn per block of
65,536 from a seed). The national CSV is written once to a file on disk and streamed; API pages
are made from the row numbers they hold. What the bench expects a territory to get is computed
here from the COG files (EPCI members, commune contours), not by the code it measures.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

COG = Path(__file__).resolve().parents[2] / "shared" / "data" / "cog"
COLUMNS = ["numero_dpe", "code_insee_ban", "etiquette_dpe", "etiquette_ges",
           "conso_5_usages_ep", "surface_habitable", "date_etablissement_dpe",
           "type_batiment", "annee_construction", "adresse_ban"]
CHUNK = 1 << 20  # rows generated at a time
BLOCK = 1 << 16  # points per seeded block
FRANCE = (-4.8, 42.3, 8.2, 51.1)  # west, south, east, north


def cog_communes() -> list[dict[str, Any]]:
    rows = json.loads((COG / "communes.json").read_text(encoding="utf-8"))
    return [r for r in rows if r["type"] == "commune-actuelle"]


def epci_members(siren: str) -> set[str]:
    for epci in json.loads((COG / "epci.json").read_text(encoding="utf-8")):
        if epci["code"] == siren:
            return {m["code"] for m in epci["membres"]}
    raise KeyError(siren)


class DpeTable:
    """``rows`` DPE-like rows, communes drawn by population (seeded)."""

    def __init__(self, rows: int, seed: int = 13) -> None:
        communes = cog_communes()
        self.codes = np.array([c["code"] for c in communes])
        weights = np.array([max(c.get("population") or 0, 1) for c in communes], dtype=float)
        rng = np.random.default_rng(seed)
        self.rows = rows
        self.commune = rng.choice(len(communes), size=rows, p=weights / weights.sum()
                                  ).astype(np.uint16)
        self._selection: dict[tuple[str, ...], np.ndarray] = {}

    def frame(self, numbers: np.ndarray) -> Any:
        """The rows with these numbers, every value a string (as in the CSV)."""
        import polars as pl

        n = pl.Series("n", numbers.astype(np.int64))
        code = pl.Series("code_insee_ban", self.codes[self.commune[numbers]])
        col, letters = pl.col("n"), pl.Series(list("ABCDEFG"))

        def text(expr: Any) -> Any:
            return expr.cast(pl.Utf8)

        return pl.DataFrame([n, code]).select(
            numero_dpe=text(col).str.zfill(10),
            code_insee_ban=pl.col("code_insee_ban"),
            etiquette_dpe=pl.lit(letters).gather(col % 7),
            etiquette_ges=pl.lit(letters).gather((col // 7) % 7),
            conso_5_usages_ep=pl.concat_str(text((col * 37) % 600 + 50), pl.lit(".5")),
            surface_habitable=text((col * 13) % 180 + 15),
            date_etablissement_dpe=pl.concat_str(
                pl.lit("2024-"), text(col % 12 + 1).str.zfill(2), pl.lit("-"),
                text(col % 28 + 1).str.zfill(2)),
            type_batiment=pl.when(col % 3 == 0).then(pl.lit("maison"))
            .otherwise(pl.lit("appartement")),
            annee_construction=text(1900 + col % 125),
            adresse_ban=pl.concat_str(text(col % 200), pl.lit(" rue de la République "),
                                      pl.col("code_insee_ban")),
        )

    def write_csv(self, path: Path) -> None:
        """The national file (``;``-separated), written once, a chunk at a time."""
        with open(path, "wb") as out:
            for start in range(0, self.rows, CHUNK):
                numbers = np.arange(start, min(start + CHUNK, self.rows))
                self.frame(numbers).write_csv(out, separator=";", include_header=start == 0)

    def select(self, codes: list[str] | None) -> np.ndarray:
        """Row numbers of these communes' rows (every row for None), kept for the next page."""
        key = tuple(sorted(codes)) if codes is not None else ()
        if key not in self._selection:
            if codes is None:
                found = np.arange(self.rows)
            else:
                wanted = np.flatnonzero(np.isin(self.codes, list(codes)))
                found = np.flatnonzero(np.isin(self.commune, wanted))
            self._selection = {key: found}  # one query at a time: the newest only
        return self._selection[key]

    def page_json(self, numbers: np.ndarray) -> bytes:
        """The rows as a JSON list of objects."""
        if not len(numbers):
            return b"[]"
        return self.frame(numbers).write_json().encode()

    def page_csv(self, numbers: np.ndarray) -> bytes:
        """The rows as CSV with a header (commas, as data-fair's ``format=csv``)."""
        return self.frame(numbers).write_csv().encode()

    def expected(self, members: set[str]) -> int:
        """Rows of the communes ``members`` (from the COG's EPCI members)."""
        wanted = np.flatnonzero(np.isin(self.codes, sorted(members)))
        return int(np.isin(self.commune, wanted).sum())


class PointLayer:
    """``count`` points uniform over metropolitan France's bounding box."""

    def __init__(self, count: int, seed: int = 13) -> None:
        self.count, self.seed = count, seed
        self._selection: dict[str, np.ndarray] = {}

    @lru_cache(maxsize=4)  # noqa: B019 (one layer per bench run)
    def block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, number])
        size = min(BLOCK, self.count - number * BLOCK)
        west, south, east, north = FRANCE
        return (rng.uniform(west, east, size).round(6), rng.uniform(south, north, size).round(6))

    def blocks(self) -> Any:
        for number in range(-(-self.count // BLOCK)):
            yield number * BLOCK, *self.block(number)

    def coordinates(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = np.empty(len(numbers)), np.empty(len(numbers))
        which = numbers // BLOCK
        for number in np.unique(which).tolist():
            at = which == number
            x, y = self.block(number)
            lon[at], lat[at] = x[numbers[at] - number * BLOCK], y[numbers[at] - number * BLOCK]
        return lon, lat

    def select(self, bbox: tuple[float, float, float, float] | None) -> np.ndarray:
        """Numbers of the points in ``bbox`` (west, south, east, north); every point for None."""
        if bbox is None:
            return np.arange(self.count)
        key = repr(bbox)
        if key not in self._selection:
            west, south, east, north = bbox
            found = [start + np.flatnonzero((x >= west) & (x <= east) & (y >= south)
                                            & (y <= north)) for start, x, y in self.blocks()]
            self._selection = {key: np.concatenate(found)}
        return self._selection[key]

    def features_json(self, numbers: np.ndarray) -> str:
        lon, lat = self.coordinates(numbers)
        return ",".join(
            f'{{"type":"Feature","id":"p.{i}","geometry":{{"type":"Point","coordinates":'
            f'[{x},{y}]}},"properties":{{"id":{i},"kind":"site"}}}}'
            for i, x, y in zip(numbers.tolist(), lon.tolist(), lat.tolist(), strict=True))

    def expected(self, contour: Any) -> int:
        """Points inside ``contour`` (the union of the members' commune contours)."""
        import shapely

        shapely.prepare(contour)
        west, south, east, north = contour.bounds
        kept = 0
        for _start, x, y in self.blocks():
            near = (x >= west) & (x <= east) & (y >= south) & (y <= north)
            kept += int(shapely.intersects_xy(contour, x[near], y[near]).sum())
        return kept


def territory_contour(members: set[str]) -> Any:
    """The union of the members' contours, from the referential's embedded commune contours."""
    import shapely

    from ckanext.dataclic.territories import Referential

    contours = Referential.default().contours()
    return shapely.union_all([contours[c] for c in sorted(members) if c in contours])
