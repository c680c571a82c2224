"""Web endpoints of ckanext-dataclic: the download of extraction results."""
from __future__ import annotations

from pathlib import Path

import ckan.plugins.toolkit as tk
from flask import Blueprint, Response, send_file

dataclic = Blueprint("dataclic_extraction", __name__)


def _error(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def download(id: str) -> Response:
    """Stream a finished extraction (GET and HEAD, Range supported); access is checked on
    every request against the extracted resource."""
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    record = store.get_extraction(id)
    if record is None:
        return _error(404, tk._("Extraction not found"))
    context = {"user": tk.current_user.name if tk.current_user.is_authenticated else "",
               "auth_user_obj": tk.current_user if tk.current_user.is_authenticated else None}
    try:
        tk.check_access("dataclic_extract_show", context, {"id": id})
    except tk.NotAuthorized:
        return _error(403, tk._("You are not allowed to read this resource"))
    path = Path(record["path"] or "")
    if record["status"] != "done" or not record["path"] or not path.is_file():
        return _error(404, tk._("This extraction has no result to download (status: "
                                "{status}); run it again").format(status=record["status"]))
    # Give the database connection back before writing and streaming: a slow client must
    # not hold one.
    from ckan import model

    model.Session.remove()
    store.update_extraction(id, last_access=store.now())
    response = send_file(path, mimetype=service.CONTENT_TYPES[record["format"]],
                         as_attachment=True, download_name=record["filename"],
                         conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


dataclic.add_url_rule("/dataclic/extraction/<id>/download", view_func=download,
                      methods=["GET", "HEAD"])


def get_blueprints() -> list[Blueprint]:
    from ckanext.dataclic.admin_views import territory_sources

    return [dataclic, territory_sources]
