from __future__ import annotations

import ckan.plugins as p


class PgSearchPlugin(p.SingletonPlugin):
    """Placeholder until the stand-in lands."""
