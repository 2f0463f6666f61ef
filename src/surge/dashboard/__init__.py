"""The dashboard: server-rendered pages over the engine façade, at ``/``.

Pages are Jinja2 templates (`templates/`) with hand-written CSS and JavaScript (`static/`),
shipped as package data: no front-end build. Each page reads and acts through the
`surge.engine.Engine` façade only. On `surge start` every page is behind the API's
signing-key check until the dashboard's login lands.
"""

from __future__ import annotations

from .routes import dashboard_routes

__all__ = ["dashboard_routes"]
