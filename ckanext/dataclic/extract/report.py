"""What an extraction did, in a form CKAN can store (plain JSON)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

TOP_UNKNOWN_CODES = 20


@dataclass
class ExtractionReport:
    perimeter: str = ""
    mode: str = ""
    output_format: str = ""
    rows_read: int = 0
    rows_kept: int = 0
    rows_unknown_code: int = 0
    unknown_codes: list[tuple[str, int]] = field(default_factory=list)
    rows_remapped: int = 0
    rows_without_geometry: int = 0
    geometries_repaired: int = 0
    rows_field_count_mismatch: int = 0
    enriched: bool = False
    enrichment_method: str = ""
    output_crs: str = ""
    index_used: bool = False
    bytes_read: int = 0
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def add_unknown(self, counts: Counter[str]) -> None:
        merged = Counter(dict(self.unknown_codes))
        merged.update(counts)
        self.unknown_codes = [(c, n) for c, n in merged.most_common(TOP_UNKNOWN_CODES)]

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unknown_codes"] = [[c, n] for c, n in self.unknown_codes]
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["unknown_codes"] = [(str(c), int(n)) for c, n in known.get("unknown_codes", [])]
        return cls(**known)

    def summary_lines(self) -> list[str]:
        lines = [
            f"perimeter: {self.perimeter}  mode: {self.mode}  format: {self.output_format}",
            f"rows read: {self.rows_read}",
            f"rows kept: {self.rows_kept}",
        ]
        if self.rows_unknown_code:
            top = ", ".join(f"{c or '(empty)'}×{n}" for c, n in self.unknown_codes[:5])
            lines.append(f"rows with an unknown commune code: {self.rows_unknown_code} ({top})")
        if self.rows_remapped:
            lines.append(f"rows remapped from former codes: {self.rows_remapped}")
        if self.rows_without_geometry:
            lines.append(f"rows without usable geometry: {self.rows_without_geometry}")
        if self.geometries_repaired:
            lines.append(f"invalid geometries repaired: {self.geometries_repaired}")
        if self.rows_field_count_mismatch:
            lines.append(
                f"rows whose field count differs from the header: {self.rows_field_count_mismatch}"
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append(f"elapsed: {self.elapsed_s:.2f} s")
        return lines
