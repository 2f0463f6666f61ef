"""What each install of the wheel can do: the SDK alone, and the server without PostgreSQL.

The repo is built into a wheel, installed into a fresh virtual environment with only its
base dependencies from PyPI (no extras), and that environment imports `surge` and runs a
two-step function in process with `surge.testing`, no server. The server's dependencies
(starlette, uvicorn, croniter, cel...) must not be there, and `import surge` must not try
to load them. With the `server` extra but not `postgres`, `surge start --postgres-uri` says
in one line what to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Import names of the `server` extra's packages (and the other extras'): none may be installed.
SERVER_MODULES = (
    "starlette",
    "uvicorn",
    "croniter",
    "cel",
    "uvloop",
    "ulid",
    "psycopg",
    "pydantic",
    "pytest",
)
# What `pip install surge` may bring: the SDK's dependencies and theirs.
BASE_DISTRIBUTIONS = {
    "surge",
    "httptools",  # the lean client the SDK checkpoints steps with (`surge.core.http_client`)
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "jcs",
    "orjson",
    "typing-extensions",
    "exceptiongroup",
}

CHECK = textwrap.dedent(
    """
    import importlib.metadata, importlib.util, json, sys

    import surge
    import surge.testing

    client = surge.Surge(app_id="wheel-check", mode="dev")

    def shout(name: str) -> str:
        return name.upper()

    @client.create_function(fn_id="greet", trigger="test/greet")
    async def greet(ctx: surge.Context) -> dict:
        name = await ctx.step.run("load-name", lambda: ctx.event.data["name"])
        loud = await ctx.step.run("shout", shout, name)
        return {"greeting": f"HELLO, {loud}!"}

    result = surge.testing.run(greet, {"name": "test/greet", "data": {"name": "Ada"}})
    print(json.dumps({
        "surge_file": surge.__file__,
        "status": result.status,
        "output": result.output,
        "steps": result.step_ids,
        "found": [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None],
        "loaded": sorted(
            m for m in sys.modules
            if m.split(".")[0] in sys.argv[1:]
            or m.split(".")[:2] in (["surge", "server"], ["surge", "engine"],
                                    ["surge", "storage"], ["surge", "cli"])
        ),
        "distributions": sorted(
            d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()
        ),
    }))
    """
)


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "SURGE_", "INNGEST_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


PIP = [sys.executable, "-m", "pip"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([*PIP, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(REPO_ROOT)])
    (built,) = dist.glob("surge-*.whl")
    return built


def _venv_with(env_dir: Path, requirement: str) -> Path:
    """A fresh virtual environment with `requirement` installed; its python."""
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([*PIP, "--python", str(python), "install", "--quiet", requirement])
    return python


@pytest.mark.timeout(240)
def test_wheel_installs_with_base_dependencies_only_and_runs_a_function(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    python = _venv_with(env_dir, str(wheel))

    script = tmp_path / "check.py"
    script.write_text(CHECK)
    # Run outside the repo so the source tree cannot shadow the installed wheel.
    out = _run([str(python), str(script), *SERVER_MODULES], cwd=tmp_path).stdout
    report = json.loads(out.strip().splitlines()[-1])

    assert report["surge_file"].startswith(str(env_dir))
    assert report["status"] == "Completed"
    assert report["output"] == {"greeting": "HELLO, ADA!"}
    assert report["steps"] == ["load-name", "shout"]
    assert report["found"] == []  # no server (or other extra) dependency is installed
    assert report["loaded"] == []
    assert set(report["distributions"]) <= BASE_DISTRIBUTIONS, report["distributions"]
    assert {"surge", "httpx", "jcs", "orjson", "typing-extensions"} <= set(report["distributions"])


@pytest.mark.timeout(300)
def test_the_server_without_the_postgres_extra_says_what_to_install(
    wheel: Path, tmp_path: Path
) -> None:
    python = _venv_with(tmp_path / "venv", f"{wheel}[server]")
    surge = str(python.with_name("surge"))
    key = "signkey-test-" + "ab" * 32

    started = subprocess.run(
        [surge, "start", "--signing-key", key, "--postgres-uri", "postgresql://u@127.0.0.1:1/db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    helped = _run([surge, "start", "--help"], cwd=tmp_path).stdout

    assert started.returncode == 2, started.stderr
    [line] = started.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("surge start: PostgreSQL needs the psycopg driver"), line
    assert line.endswith("pip install 'surge[postgres]'"), line
    assert "pip install 'surge[postgres]'" in helped
    assert "SQLite" in helped
