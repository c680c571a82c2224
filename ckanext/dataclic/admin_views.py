"""The sysadmins' page that creates the territory's harvest sources from the curated catalogue.

``/ckan-admin/dataclic/territory-sources``: GET shows the catalogue grouped by theme with each
source's method for the territory; POST (CSRF-protected by CKAN's form protection) creates the
ticked sources through :mod:`ckanext.dataclic.harvesters.territory_sources`, the same function
the ``ckan dataclic sources add-territory`` command calls.

Size estimates: the page shows the ones the cache holds and placeholders for the others; its
script then asks ``/ckan-admin/dataclic/territory-sources/estimates`` (JSON) for them, so the
page renders at once even when every national API is out of reach (an offline portal). See
:mod:`ckanext.dataclic.harvesters.territory_estimates`.

The POST's CSRF token is also checked here: CKAN 2.12 exempts a view from its CSRF protection
for the rest of the process as soon as one request reaches it with an API token
(``csrf.exempt`` in ``ckan_before_request``), so the page does not rely on that alone.
"""
from __future__ import annotations

import logging
from typing import Any

import ckan.plugins.toolkit as tk
from flask import Blueprint, request

log = logging.getLogger(__name__)
territory_sources = Blueprint("dataclic_territory_sources", __name__)


def _context() -> dict[str, Any]:
    user = tk.current_user
    authenticated = bool(user and user.is_authenticated)
    return {"user": user.name if authenticated else "",
            "auth_user_obj": user if authenticated else None}


def _organisations() -> list[dict[str, str]]:
    """Every active organisation (the page is for sysadmins; organization_list with all
    fields would stop at 25)."""
    from ckan import model

    rows = (model.Session.query(model.Group)
            .filter_by(is_organization=True, state="active")
            .order_by(model.Group.title, model.Group.name).all())
    return [{"id": g.id, "name": g.name, "title": g.title or g.name} for g in rows]


def _csrf_refused() -> str:
    """A translated reason when a cookie-authenticated POST lacks a valid CSRF token."""
    from flask import current_app
    from flask_wtf.csrf import ValidationError as CSRFError
    from flask_wtf.csrf import validate_csrf

    if tk.g.get("login_via_auth_header") or not current_app.config.get("WTF_CSRF_ENABLED"):
        return ""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    token = request.form.get(field) or request.headers.get("X-CSRFToken") or ""
    try:
        validate_csrf(token)
    except CSRFError:
        return tk._("The form has expired or did not come from this site: reload the page "
                    "and try again.")
    return ""


def index() -> Any:
    from ckanext.dataclic.harvesters.territory_sources import (
        DEFAULT_FREQUENCY,
        FREQUENCIES,
        TerritorySourceError,
        add_territory_sources,
        catalogue_plan,
    )

    context = _context()
    try:
        tk.check_access("dataclic_territory_sources", dict(context), {})
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Only sysadmins may add harvest sources for the territory."))

    if request.method == "POST":
        refused = _csrf_refused()
        if refused:
            return tk.abort(400, refused)
    form = request.form if request.method == "POST" else request.args
    perimeter = (form.get("perimeter") or "").strip()
    chosen_sources = form.getlist("source")
    chosen_themes = form.getlist("theme")
    org = form.get("owner_org") or ""
    frequency = form.get("frequency") or DEFAULT_FREQUENCY
    error = ""
    outcomes: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        if not chosen_sources and not chosen_themes:
            error = tk._("Tick at least one source or one theme.")
            status = 400
        else:
            try:
                _territory, done = add_territory_sources(
                    context, perimeter=perimeter or None, names=chosen_sources,
                    themes=chosen_themes, org=org or None, frequency=frequency)
                outcomes = [o.as_dict() for o in done]
            except TerritorySourceError as exc:
                error = str(exc)
                status = 400
    plan = None
    try:
        plan = catalogue_plan(perimeter or None)
    except TerritorySourceError as exc:
        error = error or str(exc)
        status = 400 if request.method == "POST" or perimeter else status
    page = tk.render("dataclic/territory_sources.html", extra_vars={
        "plan": plan, "estimates": _cached_estimates(plan), "error": error, "outcomes": outcomes, "perimeter": perimeter,
        "organisations": _organisations(), "owner_org": org,
        "frequencies": FREQUENCIES, "frequency": frequency.upper(),
        "chosen_sources": chosen_sources, "chosen_themes": chosen_themes,
        "harvest_enabled": _harvest_enabled(),
    })
    return page, status


def _cached_estimates(plan: Any) -> dict[str, dict[str, Any]]:
    """The size estimates the cache holds for the plan's territory (no remote call)."""
    if plan is None:
        return {}
    from ckanext.dataclic.harvesters.territorial import referential
    from ckanext.dataclic.harvesters.territory_estimates import described

    try:
        ref = referential()
        return described(ref.resolve(plan.territory.id), ref, cached_only=True)
    except Exception:  # the estimates are a bonus: the page works without them
        log.exception("Size estimates: the cached ones cannot be shown")
        return {}


def estimates() -> Any:
    """JSON: ``{"territory": id, "estimates": {source name: {known, label, title, value,
    unit}}}`` for the territory (``perimeter``, empty: the portal's) and the catalogue sources
    named in ``source`` (repeatable; none: all). Errors are JSON with a translated message."""
    from ckanext.dataclic.harvesters.catalogue import load_catalogue
    from ckanext.dataclic.harvesters.territorial import referential
    from ckanext.dataclic.harvesters.territory_estimates import described
    from ckanext.dataclic.harvesters.territory_sources import (
        TerritorySourceError,
        resolve_territory,
    )

    try:
        tk.check_access("dataclic_territory_sources", dict(_context()), {})
    except tk.NotAuthorized:
        return {"error": tk._("Only sysadmins may add harvest sources for the territory.")}, 403
    try:
        territory = resolve_territory(request.args.get("perimeter") or None)
    except TerritorySourceError as exc:
        return {"error": str(exc)}, 400
    names = set(request.args.getlist("source"))
    entries = [e for e in load_catalogue() if not names or e.name in names]
    try:
        ref = referential()
        found = described(ref.resolve(territory.id), ref, entries)
    except Exception:  # never a 500 for an estimate
        log.exception("Size estimates for %s failed", territory.id)
        return {"error": tk._("The size estimates could not be computed.")}, 503
    return {"territory": territory.id, "estimates": found}


def _harvest_enabled() -> bool:
    import ckan.plugins as p

    return p.plugin_loaded("harvest")


territory_sources.add_url_rule("/ckan-admin/dataclic/territory-sources", view_func=index,
                               methods=["GET", "POST"], endpoint="index")
territory_sources.add_url_rule("/ckan-admin/dataclic/territory-sources/estimates",
                               view_func=estimates, methods=["GET"], endpoint="estimates")
