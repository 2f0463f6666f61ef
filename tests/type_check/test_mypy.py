"""``mypy --strict`` accepts a user's typed app, and catches misuse of step results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def _mypy(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_user_app_type_checks_strictly() -> None:
    result = _mypy(HERE / "user_app.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_wrong_use_of_a_step_result_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad_app.py"
    bad.write_text(
        "import surge\n"
        "client = surge.Surge(app_id='x', mode='dev')\n"
        "async def n() -> int:\n    return 1\n"
        "@client.create_function(fn_id='f', trigger='e')\n"
        "async def f(ctx: surge.Context) -> str:\n"
        "    value = await ctx.step.run('n', n)\n"
        "    return value\n"  # int returned as str
        "async def g(x: int) -> int:\n    return x\n"
        "@client.create_function(fn_id='h', trigger='e')\n"
        "async def h(ctx: surge.Context) -> int:\n"
        "    return await ctx.step.run('g', g, 'not an int')\n"
    )
    result = _mypy(bad)
    assert result.returncode == 1
    assert 'Incompatible return value type (got "int", expected "str")' in result.stdout
    assert 'No overload variant of "run" of "Step" matches argument types' in result.stdout
