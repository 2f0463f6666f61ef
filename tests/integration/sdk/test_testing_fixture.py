"""The ``surge_dev_server`` pytest fixture of `surge.testing`, used the way its docs say.

A user's test suite enables it with ``pytest_plugins = ["surge.testing"]`` in its conftest.
So this runs such a suite in a separate pytest process: each of its tests gets a fresh
``surge dev`` on a free port that takes events from the SDK, and every server is gone after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

USER_CONFTEST = 'pytest_plugins = ["surge.testing"]\n'
USER_TESTS = textwrap.dedent(
    """
    import json
    import os

    import httpx
    import pytest

    import surge


    def record(server):
        with open(os.environ["FIXTURE_REPORT"], "a") as out:
            out.write(json.dumps({"url": server.url, "pid": server.process.pid,
                                  "dir": str(server.directory)}) + "\\n")


    @pytest.mark.parametrize("n", [1, 2])
    def test_server_takes_events_from_the_sdk(surge_dev_server, n):
        record(surge_dev_server)
        assert httpx.get(f"{surge_dev_server.url}/health").status_code == 200
        client = surge.Surge(app_id="fixture-check", mode="dev",
                             api_origin=surge_dev_server.url,
                             event_api_origin=surge_dev_server.url)
        (event_id,) = client.send_sync(surge.Event(name="test/ping", data={"n": n}))
        client.close()
        event = httpx.get(f"{surge_dev_server.url}/v1/events/{event_id}").json()["data"]
        assert event["name"] == "test/ping" and event["data"] == {"n": n}
        # A fresh server per test: only this test's event is there.
        events = httpx.get(f"{surge_dev_server.url}/v1/events").json()["data"]
        assert [e["name"] for e in events] == ["test/ping"]
    """
)


def test_surge_dev_server_fixture_gives_each_test_a_fresh_server_and_stops_it(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (suite / "conftest.py").write_text(USER_CONFTEST)
    (suite / "test_user.py").write_text(USER_TESTS)
    report = tmp_path / "report.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "INNGEST_"))}
    env["FIXTURE_REPORT"] = str(report)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

    servers = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(servers) == 2
    assert servers[0]["url"] != servers[1]["url"]  # each test got its own port
    for server in servers:
        assert not Path(server["dir"]).exists()  # its temporary database is removed
        assert not _alive(server["pid"]), f"surge dev pid {server['pid']} still runs"
        try:
            httpx.get(f"{server['url']}/health", timeout=1)
        except httpx.TransportError:
            continue
        raise AssertionError(f"a server still answers at {server['url']}")


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True
