"""Choosing labels of the non-spatial dimensions (``--labels horizon=H2,H3``).

A selection keeps, for some dimensions, only some labels (in the file's order). The
profile seen by the rest of the engine lists only the kept labels; :class:`SelectedSource`
maps its layer numbers back to the file's, reading each run of consecutive layers at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import N_, ExtractionError
from .profile import GridProfile


def parse_labels(items: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """``["horizon=H2,H3", "time=2050"]`` -> ``{"horizon": ["H2", "H3"], "time": ["2050"]}``;
    a dimension given twice keeps the labels of both."""
    out: dict[str, list[str]] = {}
    for item in items:
        dim, sep, text = item.partition("=")
        labels = [t.strip() for t in text.split(",") if t.strip()]
        if not sep or not dim.strip() or not labels:
            raise ExtractionError(N_("--labels takes DIMENSION=LABEL[,LABEL…], e.g. "
                                     "horizon=H2,H3; got {value}"), value=repr(item))
        out.setdefault(dim.strip(), []).extend(labels)
    return out


def label_selection(profile: GridProfile, labels: dict[str, list[str]] | None
                    ) -> dict[str, list[int]]:
    """Positions of the kept labels per dimension; :class:`ExtractionError` naming an
    unknown dimension or label with the possible ones."""
    selection: dict[str, list[int]] = {}
    for dim, wanted in (labels or {}).items():
        if dim not in profile.dimensions:
            if not profile.dimensions:
                raise ExtractionError(N_("No dimension {name} in the file: its variables have "
                                         "no dimension besides x and y"), name=repr(dim))
            raise ExtractionError(N_("No dimension {name} in the file; it has {names}"),
                                  name=repr(dim), names=list(profile.dimensions))
        known = profile.dimensions[dim]
        if isinstance(wanted, str):
            wanted = [wanted]
        wanted = [str(w) for w in wanted]
        if not wanted:
            raise ExtractionError(N_("Choose at least one label of the dimension {name}"),
                                  name=repr(dim))
        missing = [w for w in wanted if w not in known]
        if missing:
            shown = known if len(known) <= 20 else [*known[:20], "…"]
            raise ExtractionError(N_("No label {label} in the dimension {name}; it has "
                                     "{labels}"), label=repr(missing[0]), name=repr(dim),
                                  labels=shown)
        keep = set(wanted)
        selection[dim] = [i for i, label in enumerate(known) if label in keep]
    return selection


def apply_selection(profile: GridProfile, selection: dict[str, list[int]]) -> GridProfile:
    """The profile listing only the kept labels (dimensions not used by the profile's
    variables are left out of the selection)."""
    if not selection:
        return profile
    dims = {d: ([labels[i] for i in selection[d]] if d in selection else labels)
            for d, labels in profile.dimensions.items()}
    return replace(profile, dimensions=dims)


class SelectedSource:
    """A source of the full file read through a label selection."""

    def __init__(self, source: Any, full: GridProfile, selection: dict[str, list[int]]) -> None:
        self.source, self.full, self.selection = source, full, selection

    def close(self) -> None:
        self.source.close()

    def file_layers(self, name: str) -> Any:
        """The file's flattened layer numbers of the kept layers of ``name``, in order."""
        import numpy as np

        dims = self.full.variable(name).dims
        sizes = [len(self.full.dimensions[d]) for d in dims]
        if not dims:
            return np.zeros(1, dtype=np.int64)
        kept = [np.asarray(self.selection.get(d, range(s)), dtype=np.int64)
                for d, s in zip(dims, sizes)]
        grids = np.meshgrid(*kept, indexing="ij")
        return np.ravel_multi_index([g.ravel() for g in grids], sizes)

    def read(self, name: str, start: int, stop: int, window: tuple[int, int, int, int]) -> Any:
        import numpy as np

        wanted = self.file_layers(name)[start:stop]
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        parts = [self.source.read(name, int(run[0]), int(run[-1]) + 1, window)
                 for run in np.split(wanted, breaks)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __getattr__(self, name: str) -> Any:  # e.g. the text table of a DRIAS export
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)
