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


def _imported_modules(source: str, package: tuple[str, ...]) -> set[str]:
    """Every module `source` imports, relative imports resolved against `package`."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = [node.module or ""]
            else:
                base = list(package[: len(package) - node.level + 1])
                base += [node.module] if node.module else []
            modules.add(".".join(base))
    return modules


def _imported_layers(path: pathlib.Path, source: str | None = None) -> set[str]:
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    layers = set()
    for module in _imported_modules(source or path.read_text(), package):
        parts = module.split(".")
        if parts[0] != "surge":
            continue
        # The package root is the SDK: `import surge` loads it whole.
        layers.add(parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "sdk")
    return layers


def test_relative_imports_are_resolved_against_their_package() -> None:
    rules = SRC / "storage" / "rules" / "events.py"

    assert _imported_layers(rules, "from ..statements import fetch\n") == {"storage"}
    assert _imported_layers(rules, "from . import queue\n") == {"storage"}
    assert _imported_layers(rules, "from ...core import codec\n") == {"core"}


def test_a_bare_import_surge_counts_as_the_sdk() -> None:
    server = SRC / "server" / "app.py"

    assert _imported_layers(server, "import surge\n") == {"sdk"}
    assert _imported_layers(server, "from surge import Surge\n") == {"sdk"}
    assert _imported_layers(server, "from surge.engine import Engine\n") == {"engine"}


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
    assert surge.server.__all__ == ["SurgeServer", "create_app", "server_config"]
    assert surge.storage.__all__ == sorted(surge.storage.__all__)
    assert "Storage" in surge.storage.__all__ and "open_storage" in surge.storage.__all__
