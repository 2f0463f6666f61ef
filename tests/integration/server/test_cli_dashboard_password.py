"""`surge hash-password`, and what `surge start` says of a dashboard password it cannot use
(it exits before serving, so no server is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from surge.core.passwords import verify_password

SURGE = [sys.executable, "-m", "surge.cli.main"]
KEY = "signkey-prod-" + "c4" * 32


def surge(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
    return subprocess.run(
        [*SURGE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )


def test_hash_password_prints_a_hash_start_accepts() -> None:
    done = surge("hash-password", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert verify_password("a long enough password", done.stdout.strip())
    short = surge("hash-password", stdin="short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr


@pytest.mark.parametrize(
    ("file_text", "env", "says"),
    [
        (None, {"SURGE_DASHBOARD_PASSWORD": "short"}, "must be at least 12 characters"),
        ("scrypt$oops", {}, "is not one `surge hash-password` makes"),
        ("a long enough password", {"SURGE_DASHBOARD_PASSWORD": "another long one!"}, "not both"),
    ],
)
def test_start_refuses_a_password_it_cannot_use(
    tmp_path: Path, file_text: str | None, env: dict[str, str], says: str
) -> None:
    args = ["start", "--db", str(tmp_path / "s.db"), "--signing-key", KEY, "--port", "1"]
    if file_text is not None:
        (tmp_path / "password").write_text(file_text)
        args += ["--dashboard-password-file", str(tmp_path / "password")]
    done = surge(*args, **env)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_start_names_a_password_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    done = surge(
        "start",
        "--db",
        str(tmp_path / "s.db"),
        "--signing-key",
        KEY,
        "--dashboard-password-file",
        str(missing),
    )
    assert (
        done.returncode == 2 and f"cannot read --dashboard-password-file {missing}" in done.stderr
    )
