"""The package's layers import one way (STYLE.md), and `import surge` stays an SDK import."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).parents[2] / "src" / "surge"

# Which layers each layer may import (besides itself).
ALLOWED = {
    "core": set(),
    "sdk": {"core"},
    "storage": {"core"},
    "engine": {"storage", "core"},
    "server": {"engine", "storage", "core"},
    "dashboard": {"engine", "storage", "core"},
    "cli": {"server", "engine", "storage", "core", "sdk", "dashboard"},
}


def _imported_layers(path: pathlib.Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
            names = ["surge." + node.module]
        layers.update(n.split(".")[1] for n in names if n.startswith("surge.") and "." in n)
    return layers


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    offenders = {
        str(path.relative_to(SRC)): sorted(found - ALLOWED[layer] - {layer})
        for path in (SRC / layer).rglob("*.py")
        if (found := _imported_layers(path)) - ALLOWED[layer] - {layer}
    }
    assert offenders == {}


def test_import_surge_loads_no_server_module() -> None:
    code = (
        "import sys, surge\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['surge','server'],['surge','storage'],['surge','engine'],['surge','cli'],"
        "['surge','dashboard']) or m.split('.')[0] in ('starlette','uvicorn','sqlite3'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_exports_are_pinned() -> None:
    import surge
    import surge.engine
    import surge.server
    import surge.storage

    assert surge.__all__ == [
        "Batch",
        "Cancel",
        "Concurrency",
        "Config",
        "Context",
        "Debounce",
        "Event",
        "EventDataInvalid",
        "EventSendError",
        "EventType",
        "Function",
        "NonRetriableError",
        "OutputNotSerializable",
        "Priority",
        "RateLimit",
        "RetryAfterError",
        "Singleton",
        "Step",
        "StepError",
        "Surge",
        "SurgeError",
        "SyncContext",
        "SyncStep",
        "Throttle",
        "Timeouts",
        "TriggerCron",
        "TriggerEvent",
        "__version__",
        "asgi_app",
        "serve_asgi",
    ]
    assert surge.engine.__all__ == ["Engine", "EngineConfig"]
    assert surge.server.__all__ == ["create_app"]
    assert surge.storage.__all__ == sorted(surge.storage.__all__)
    assert "Storage" in surge.storage.__all__ and "open_storage" in surge.storage.__all__
