"""Counted HTTP calls and staged files for territorial harvests: every request and byte a
territory's fetch costs goes through a :class:`Meter`; JSON records are spooled to one CSV.

Plain Python (no CKAN import).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckanext.dataclic.remote import RemoteClient, RemoteError, full_url


@dataclass
class Meter:
    """What a territorial fetch cost: requests, bytes received, rows received."""

    requests: int = 0
    bytes: int = 0
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "bytes": self.bytes, "rows": self.rows}


@dataclass
class Staged:
    """A file the server's answers were written to, before the local check."""

    path: Path
    rows: int
    columns: list[str]
    method: str  # "server-filter" or "local-cut"
    detail: str  # how the server was asked, for the dataset notes


# -- HTTP with a meter ---------------------------------------------------------------------
def get_json(client: RemoteClient, url: str, params: dict[str, Any] | None,
             meter: Meter) -> Any:
    target = full_url(url, params)
    body = client.get_bytes(url, params, headers={"Accept": "application/json"})
    meter.requests += 1
    meter.bytes += len(body)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RemoteError(target, f"the answer is not valid JSON ({exc})", 200) from exc


def get_with_headers(client: RemoteClient, url: str, meter: Meter,
                     headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    body, answered = client.get_with_headers(url, None, headers=headers)
    meter.requests += 1
    meter.bytes += len(body)
    return body, answered


def next_link(header: str) -> str | None:
    """The ``rel=next`` target of a ``Link`` header (its URL may hold commas)."""
    for match in re.finditer(r"<([^>]*)>([^<]*)", header or ""):
        if re.search(r'\brel\s*=\s*"?[^"<]*\bnext\b', match.group(2), re.IGNORECASE):
            return match.group(1).strip()
    return None


def post_form_json(client: RemoteClient, url: str, params: dict[str, Any],
                   form: dict[str, str], meter: Meter) -> Any:
    """POST ``form`` (URL-encoded) to ``url?params``; the answer as JSON, metered."""
    meter.requests += 1
    body = client.post_form(url, params, form, headers={"Accept": "application/json"})
    meter.bytes += len(body)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RemoteError(full_url(url, params), f"the answer is not valid JSON ({exc})",
                          200) from exc


def download(client: RemoteClient, url: str, dest: Path, meter: Meter,
             params: dict[str, Any] | None = None, cap: int | None = None) -> int:
    size, _digest = client.download(url, dest, params, max_bytes=cap)
    meter.requests += 1
    meter.bytes += size
    return size


def new_file(folder: Path, suffix: str) -> Path:
    """An empty file of ours in ``folder`` (the caller removes it on failure)."""
    handle, name = tempfile.mkstemp(dir=folder, suffix=suffix)
    os.close(handle)
    return Path(name)


# -- records to CSV ---------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return "|".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class CsvSpool:
    """Records of any shape into one CSV (columns: the union of the keys), memory flat.

    While every record has the keys of the first one, in the same order (what APIs send),
    rows are spooled as CSV in one pass; the first record of another shape turns the spool
    into JSON lines, and the CSV is written from them at the end with the union of keys."""

    def __init__(self, folder: Path, cap: int, source: str) -> None:
        self.folder, self.cap, self.source = folder, cap, source
        # closed by write() or close(), whichever comes first
        self.spool = tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder,  # noqa: SIM115
                                            newline="")
        self.writer = csv.writer(self.spool)
        self.keys: tuple[Any, ...] | None = None  # the shape of every record so far
        self.uniform = True
        self.columns: dict[str, None] = {}
        self.rows = 0
        self.size = 0

    def _grow(self, size: int) -> None:
        self.size += size
        if self.size > self.cap:
            raise RemoteError(self.source, f"the records are over the {self.cap} byte cap")

    def add(self, records: Iterable[Any]) -> None:
        """Spool ``records`` (one API page). The uniform case, every page of a national
        harvest's answer, is a tight loop: most values are strings and go as they are."""
        pending = iter(records)
        if self.uniform:
            pending = self._add_uniform(pending)
        for record in pending:
            if not isinstance(record, dict):
                raise RemoteError(self.source, "a record is not a JSON object", 200)
            for key in record:
                self.columns.setdefault(str(key), None)
            line = json.dumps(record, ensure_ascii=False)
            self._grow(len(line) + 1)
            self.spool.write(line + "\n")
            self.rows += 1

    def _add_uniform(self, records: Iterator[Any]) -> Iterator[Any]:
        """Write the records of the first record's shape as CSV rows; at the first record of
        another shape, turn the spool into JSON lines and give back that record and the
        rest."""
        rows: list[list[str]] = []
        size, keys, other = 0, self.keys, None
        for record in records:
            if not isinstance(record, dict):
                raise RemoteError(self.source, "a record is not a JSON object", 200)
            if keys is None:
                keys = self.keys = tuple(record)
                for key in keys:
                    self.columns.setdefault(str(key), None)
            if tuple(record) != keys:
                other = record
                break
            cells = [v if type(v) is str else _cell(v) for v in record.values()]
            size += sum(map(len, cells)) + len(cells)
            rows.append(cells)
        self._grow(size)
        self.writer.writerows(rows)
        self.rows += len(rows)
        if other is None:
            return iter(())
        self._to_json_lines()
        return itertools.chain((other,), records)

    def _to_json_lines(self) -> None:
        keys = [str(k) for k in self.keys or ()]
        lines = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.folder)  # noqa: SIM115
        self.spool.seek(0)
        for row in csv.reader(self.spool):
            lines.write(json.dumps(dict(zip(keys, row)), ensure_ascii=False) + "\n")
        self.spool.close()
        self.spool, self.uniform = lines, False

    def write(self, dest: Path) -> list[str]:
        header = list(self.columns)
        self.spool.seek(0)
        with open(dest, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            if self.uniform:
                shutil.copyfileobj(self.spool, out, 1 << 20)
            else:
                for line in self.spool:
                    record = json.loads(line)
                    writer.writerow([_cell(record.get(col)) for col in header])
        self.spool.close()
        return header

    def close(self) -> None:
        self.spool.close()


def csv_records(body: bytes) -> int:
    """Records in CSV text whose records each end with a newline: the newlines outside
    quotes (a quoted value may hold newlines; ``""`` inside quotes is an escaped quote)."""
    if b'"' not in body:
        return body.count(b"\n")
    return sum(part.count(b"\n") for part in body.split(b'"')[::2])


class CsvPages:
    """CSV pages of an API joined into one file as they come: the first page's header once,
    every page's rows; nothing parsed but the header. A page with other columns, a JSON
    answer and the byte cap are errors naming the page."""

    def __init__(self, path: Path, cap: int, source: str) -> None:
        self.path, self.cap, self.source = path, cap, source
        self.header: bytes | None = None
        self.columns: list[str] = []
        self.rows = self.size = 0
        self.out = open(path, "wb")  # noqa: SIM115 (closed by close())

    def close(self) -> None:
        self.out.close()

    def add(self, body: bytes, url: str) -> int:
        """Append one page; return its number of rows."""
        body = body.removeprefix(b"\xef\xbb\xbf")
        if not body.strip():
            return 0
        if body.lstrip()[:1] in (b"{", b"["):
            raise RemoteError(url, "the answer is JSON, not the CSV asked for", 200)
        end = body.find(b"\n")
        header, rows = (body, b"") if end < 0 else (body[:end], body[end + 1:])
        header = header.rstrip(b"\r")
        if self.header is None:
            try:
                self.columns = next(csv.reader([header.decode("utf-8")]))
            except UnicodeDecodeError as exc:
                raise RemoteError(url, f"the CSV is not UTF-8 ({exc})", 200) from exc
            self.header = header
            self.out.write(header + b"\n")
        elif header != self.header:
            raise RemoteError(url, "a page has other columns than the first one", 200)
        if rows and not rows.endswith(b"\n"):
            rows += b"\n"
        self.size += len(rows)
        if self.size > self.cap:
            raise RemoteError(self.source, f"the records are over the {self.cap} byte cap")
        self.out.write(rows)
        count = csv_records(rows)
        self.rows += count
        return count


def staged_csv(folder: Path, spool: CsvSpool, method: str, detail: str) -> Staged:
    path = new_file(folder, ".csv")
    try:
        columns = spool.write(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Staged(path, spool.rows, columns, method, detail)


def join_exports(parts: list[Path], dest: Path, suffix: str) -> None:
    """One CSV (the first header only; byte-order marks dropped) or one FeatureCollection."""
    if len(parts) == 1:
        shutil.copyfile(parts[0], dest)
        return
    if suffix == ".geojson":
        features: list[Any] = []
        for part in parts:
            payload = json.loads(part.read_bytes())
            features.extend(payload.get("features") or [] if isinstance(payload, dict) else [])
        dest.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                   ensure_ascii=False), encoding="utf-8")
        return
    with open(dest, "wb") as out:
        for number, part in enumerate(parts):
            with open(part, "rb") as stream:
                header = stream.readline()
                if number == 0:
                    out.write(header.removeprefix(b"\xef\xbb\xbf"))
                shutil.copyfileobj(stream, out, 1 << 20)
            if part.stat().st_size:
                with open(part, "rb") as stream:
                    stream.seek(-1, os.SEEK_END)
                    if stream.read(1) != b"\n":
                        out.write(b"\n")


def chunks(codes: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(codes), size):
        yield codes[start:start + size]
