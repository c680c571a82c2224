"""Data files delivered inside a ZIP archive (a CSV or GeoJSON zipped by a national portal).

A zipped Shapefile is read in place by GDAL. Any other archive must hold exactly one data
file: it is unpacked, as a stream, to a temporary folder that is removed afterwards, and
read like a plain file (the CSV scan reads at byte offsets, which a compressed member does
not allow). The archive's safety checks (paths, size caps, decompression bombs) come first.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from .errors import N_, ExtractionError
from .sniff import EXTENSIONS, zip_members

# Extensions of the data files looked for inside an archive (a Shapefile is read in place).
# A .txt is a notice (LISEZMOI.txt) and a .json often metadata (datapackage.json): a .json
# is taken only when nothing else is there.
DATA_EXTENSIONS = {ext for ext, fmt in EXTENSIONS.items() if fmt != "shp"} - {".txt", ".json"}


def is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def data_member(path: Path) -> str | None:
    """The archive's one data file to unpack; None for a plain file or a zipped
    Shapefile. A clear error when the archive holds none, or several."""
    if not is_zip(path):
        return None
    members = zip_members(path)
    names = [m.filename for m in members]
    if any(n.lower().endswith(".shp") for n in names):
        return None
    visible = [n for n in names if not PurePosixPath(n).name.startswith((".", "__MACOSX"))
               and not n.startswith("__MACOSX/")]
    data = [n for n in visible if PurePosixPath(n).suffix.lower() in DATA_EXTENSIONS]
    if not data:
        data = [n for n in visible if PurePosixPath(n).suffix.lower() == ".json"]
    if not data:
        raise ExtractionError(N_("{name} holds no shapefile and no data file "
                                 "(CSV, GeoJSON, GeoPackage, FlatGeobuf, Parquet)"),
                              name=path.name)
    if len(data) > 1:
        shown = ", ".join(sorted(data)[:5]) + (", …" if len(data) > 5 else "")
        raise ExtractionError(N_("{name} holds several data files ({files}); "
                                 "unzip it and choose one"), name=path.name, files=shown)
    return data[0]


@contextmanager
def data_file(path: Path) -> Iterator[tuple[Path, str | None]]:
    """(file to read, archive member): ``path`` itself, or its one data member unpacked
    to a temporary folder for the duration of the block."""
    member = data_member(path)
    if member is None:
        yield path, None
        return
    folder = Path(tempfile.mkdtemp(prefix="dataclic-unzip-"))
    try:
        target = folder / PurePosixPath(member).name
        try:
            # The member's declared size was checked against the caps; zipfile never
            # yields more than that size.
            with zipfile.ZipFile(path) as zf, zf.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise ExtractionError(N_("{name}: cannot unpack {member} ({reason})"),
                                  name=path.name, member=member, reason=exc) from exc
        except OSError as exc:
            raise ExtractionError(N_("{name}: cannot unpack {member} ({reason})"), name=path.name,
                                  member=member, reason=exc.strerror or exc) from exc
        yield target, member
    finally:
        shutil.rmtree(folder, ignore_errors=True)
