"""Adapters serving a client's functions from web frameworks.

* `surge.sdk.serve.asgi`: any ASGI server, Starlette and FastAPI (no dependency).
* `surge.sdk.serve.flask`: Flask (imports ``flask`` when used).
* `surge.sdk.serve.django`: Django (imports ``django`` when used).
"""

from __future__ import annotations
