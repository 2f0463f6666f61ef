"""Surge servers and apps as subprocesses, the way a user runs them, for the acceptance and
end-to-end tests: `SurgeServer` (the ``surge`` CLI on a temporary database), `AppProcess` (an
app on an official Inngest SDK or the Surge SDK), and the `Launcher` that starts them and kills
them all at teardown. The fixtures that hand them to tests are in ``conftest.py``; a test
module that needs one of these at run time (to subclass `SurgeServer`, say) imports it from
here, never from ``conftest`` (pytest may hold another directory's conftest under that name).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from surge.core.signing import signature

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPAT_DIR = REPO_ROOT / "tests" / "compat"
PY_APP = COMPAT_DIR / "py_app" / "app.py"
SURGE_APP = COMPAT_DIR / "surge_app" / "app.py"  # the fan-out on the Surge SDK (crash tests)
TS_APP_DIR = COMPAT_DIR / "ts_app"
TS_APP = TS_APP_DIR / "app.mjs"

FINAL_STATUSES = frozenset({"Completed", "Failed", "Cancelled", "Skipped"})
SERVER_START_TIMEOUT = 20.0
APP_START_TIMEOUT = 30.0
LOG_TAIL_CHARS = 4000

T = TypeVar("T")

POSTGRES_URI = os.environ.get(
    "SURGE_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something true (not None, False, 0 or empty); fail
    after ``timeout``.

    The failure message names ``what`` was awaited and, if given, ``detail()`` (e.g. the
    last server answer), so a timeout says what the server was doing instead of just "timeout".
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no output>"
    return text[-LOG_TAIL_CHARS:] or "<no output>"


def _clean_env(**overrides: str) -> dict[str, str]:
    """The environment for a child process, without stray Inngest/Surge settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INNGEST_", "SURGE_"))
    }
    env.update(overrides)
    return env


class _Process:
    """A child process whose output goes to a log file (pipes could fill and stall it)."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> None:
        """Stop the process: SIGKILL at once if ``kill``, else SIGTERM then SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            proc.wait()

    def log_tail(self) -> str:
        return _tail(self.log_path)


class SurgeServer(_Process):
    """A ``surge dev`` subprocess on its own port and SQLite file."""

    def __init__(
        self,
        *,
        port: int,
        db_path: Path,
        log_path: Path,
        sdk_urls: list[str],
        extra_args: list[str],
        signing_key: str | None = None,
        event_key: str = "test-key",
    ) -> None:
        command = "start" if signing_key else "dev"
        super().__init__(f"surge {command} :{port}", log_path)
        self.port = port
        self.db_path = db_path
        self.sdk_urls = sdk_urls
        self.extra_args = extra_args
        self.signing_key = signing_key
        self.event_key = event_key
        auth = {"Authorization": f"Bearer {signing_key}"} if signing_key else {}
        self.http = httpx.Client(base_url=self.url, timeout=30.0, headers=auth)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        argv = [_surge_executable(), "start" if self.signing_key else "dev"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--db", str(self.db_path)]
        argv += ["--retry-interval", "0.2"]
        if self.signing_key:
            argv += ["--signing-key", self.signing_key, "--event-key", self.event_key]
        else:
            argv += ["--no-discovery", "--no-poll"]
        for url in self.sdk_urls:
            argv += ["-u", url]
        return argv + self.extra_args

    def start(self) -> SurgeServer:
        """Start (or restart, on the same port and database) and wait for ``GET /health``."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._spawn(self.argv(), _clean_env(), REPO_ROOT)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if not self.running:
                code = self.proc.returncode if self.proc else "?"
                self.stop()
                pytest.fail(
                    f"{self.name} exited with status {code} before answering /health.\n"
                    f"--- server output ---\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/health", timeout=2.0).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop(kill=True)
                pytest.fail(
                    f"{self.name} did not answer GET /health with 200 within "
                    f"{SERVER_START_TIMEOUT:.0f}s.\n--- server output ---\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def close(self) -> None:
        self.stop(kill=True)
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call; if the server cannot be reached, say whether it is still alive."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            state = (
                "still running"
                if self.running
                else f"exited with status {self.proc.returncode if self.proc else '?'}"
            )
            pytest.fail(
                f"{method} {path} on {self.name} failed: {exc!r}; the server process is "
                f"{state}.\n--- server output ---\n{self.log_tail()}"
            )

    # --- the HTTP API a user (or the SDK) calls -------------------------------------------

    def send(self, events: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
        """``POST /e/{key}``; return the event ids the server assigned."""
        path = f"/e/{self.event_key}"
        resp = self.request("POST", path, json=events)
        assert resp.status_code == 200, f"POST {path} -> {resp.status_code}: {resp.text}"
        body = resp.json()
        assert body.get("status") == 200, f"POST {path} body lacks status 200: {body}"
        ids: list[str] = body["ids"]
        expected = len(events) if isinstance(events, list) else 1
        assert len(ids) == expected, f"POST {path} returned {len(ids)} ids: {body}"
        return ids

    def event_runs(self, event_id: str) -> list[dict[str, Any]]:
        resp = self.request("GET", f"/v1/events/{event_id}/runs")
        assert resp.status_code == 200, (
            f"GET /v1/events/{event_id}/runs -> {resp.status_code}: {resp.text}"
        )
        runs: list[dict[str, Any]] = resp.json()["data"]
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        resp = self.request("GET", f"/v1/runs/{run_id}")
        assert resp.status_code == 200, f"GET /v1/runs/{run_id} -> {resp.status_code}: {resp.text}"
        run: dict[str, Any] = resp.json()["data"]
        return run

    def wait_event_runs(
        self, event_id: str, count: int, *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Wait until ``event_id`` has at least ``count`` runs, all finished; return them."""
        last: list[list[dict[str, Any]]] = [[]]

        def done() -> list[dict[str, Any]] | None:
            runs = last[0] = self.event_runs(event_id)
            finished = all(run.get("status") in FINAL_STATUSES for run in runs)
            return runs if len(runs) >= count and finished else None

        return poll_until(
            done,
            timeout=timeout,
            interval=0.2,
            what=f"{count} finished run(s) of event {event_id}",
            detail=lambda: f"last GET /v1/events/{event_id}/runs data: {last[0]}",
        )

    def wait_many_event_runs(
        self, event_ids: list[str], *, timeout: float, per_event: int = 1
    ) -> dict[str, list[dict[str, Any]]]:
        """Like :meth:`wait_event_runs` for many events at once; polls only unfinished ones."""
        done: dict[str, list[dict[str, Any]]] = {}
        pending = list(event_ids)

        def sweep() -> bool:
            nonlocal pending
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(zip(pending, pool.map(self.event_runs, pending), strict=True))
            still = []
            for event_id, runs in results:
                finished = all(run.get("status") in FINAL_STATUSES for run in runs)
                if len(runs) >= per_event and finished:
                    done[event_id] = runs
                else:
                    still.append(event_id)
            pending = still
            return not pending

        def detail() -> str:
            sample = pending[:3]
            shown = {event_id: self.event_runs(event_id) for event_id in sample}
            return f"{len(pending)} of {len(event_ids)} events unfinished; e.g. {shown}"

        poll_until(
            sweep,
            timeout=timeout,
            interval=0.5,
            what=f"runs of {len(event_ids)} events to finish",
            detail=detail,
        )
        return done

    def wait_run(self, run_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until run ``run_id`` has finished; return it."""
        last: list[dict[str, Any]] = [{}]

        def done() -> dict[str, Any] | None:
            run = last[0] = self.run(run_id)
            return run if run.get("status") in FINAL_STATUSES else None

        return poll_until(
            done,
            timeout=timeout,
            interval=0.2,
            what=f"run {run_id} to finish",
            detail=lambda: f"last GET /v1/runs/{run_id} data: {last[0]}",
        )

    def function_slugs(self) -> set[str]:
        """Function ids (``<app>-<fn>``) listed by ``GET /dev``."""
        resp = self.request("GET", "/dev")
        assert resp.status_code == 200, f"GET /dev -> {resp.status_code}: {resp.text}"
        functions = resp.json().get("functions") or []
        return {str(fn.get("slug") or fn.get("id")) for fn in functions}


class AppProcess(_Process):
    """One of the compatibility apps as a subprocess: on the official SDKs (``py``, ``ts``), or
    the fan-out alone on the Surge SDK (``surge``)."""

    def __init__(
        self,
        *,
        kind: str,
        port: int,
        server_url: str,
        log_path: Path,
        signing_key: str | None = None,
        event_key: str = "test-key",
        env: dict[str, str] | None = None,
    ) -> None:
        if kind not in ("py", "ts", "surge"):
            raise ValueError(f"unknown app kind {kind!r}")
        super().__init__(f"compat-{kind} app :{port}", log_path)
        self.signing_key = signing_key
        self.event_key = event_key
        self.kind = kind
        self.port = port
        self.server_url = server_url
        self.app_id = f"compat-{kind}"
        self.env = env or {}
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/inngest"

    def argv(self) -> tuple[list[str], Path]:
        if self.kind == "py":
            return [sys.executable, str(PY_APP), str(self.port)], PY_APP.parent
        if self.kind == "surge":
            return [sys.executable, str(SURGE_APP), str(self.port)], SURGE_APP.parent
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not installed: the TypeScript compatibility tests need Node.js")
        if not (TS_APP_DIR / "node_modules" / "inngest").is_dir():
            pytest.fail(
                f"{TS_APP_DIR}/node_modules is missing: run `make install` "
                "(it runs `npm ci` there) before the compatibility tests"
            )
        return [node, str(TS_APP), str(self.port)], TS_APP_DIR

    def start(self) -> AppProcess:
        """Start and wait until ``GET /api/inngest`` answers as an Inngest SDK."""
        argv, cwd = self.argv()
        # Dev mode, with the Surge server as API and event origin (`docs/protocol.md`, "Signing
        # and keys"); with a signing key, production mode against `surge start`.
        if self.signing_key:
            env = _clean_env(
                INNGEST_API_BASE_URL=self.server_url,
                INNGEST_EVENT_API_BASE_URL=self.server_url,
                INNGEST_SIGNING_KEY=self.signing_key,
                INNGEST_EVENT_KEY=self.event_key,
                INNGEST_SERVE_ORIGIN=f"http://127.0.0.1:{self.port}",
                PYTHONUNBUFFERED="1",
            )
        else:
            env = _clean_env(
                INNGEST_DEV=self.server_url,
                INNGEST_BASE_URL=self.server_url,
                PYTHONUNBUFFERED="1",
            )
        self._spawn(argv, {**env, **self.env}, cwd)
        deadline = time.monotonic() + APP_START_TIMEOUT
        while True:
            if not self.running:
                self.stop()
                pytest.fail(f"{self.name} exited during start.\n--- output ---\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                # In production mode the SDKs answer only a signed introspection GET.
                headers = (
                    {"X-Inngest-Signature": signature(b"", self.signing_key)}
                    if self.signing_key
                    else {}
                )
                resp = self.http.get("/api/inngest", timeout=2.0, headers=headers)
                if resp.status_code == 200 and "x-inngest-sdk" in resp.headers:
                    return self
            if time.monotonic() > deadline:
                self.stop(kill=True)
                pytest.fail(
                    f"{self.name} did not serve /api/inngest within {APP_START_TIMEOUT:.0f}s."
                    f"\n--- output ---\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def close(self) -> None:
        self.stop()
        self.http.close()

    def sync(self) -> httpx.Response:
        """``PUT`` the serve URL, as the Dev Server or a user's curl does (`docs/protocol.md`,
        "Sync")."""
        kind = "cloud" if self.signing_key else "dev"
        return self.http.put(
            "/api/inngest", json={"url": self.serve_url}, headers={"X-Inngest-Server-Kind": kind}
        )

    def counts(self) -> dict[str, Any]:
        """The app's ledger: ``{"runs": {run_id: {"fn", "steps", "first_seq"}}, "failures"}``."""
        resp = self.http.get("/counts")
        resp.raise_for_status()
        counts: dict[str, Any] = resp.json()
        return counts

    def summary(self) -> dict[str, Any]:
        resp = self.http.get("/counts", params={"summary": "1"})
        resp.raise_for_status()
        summary: dict[str, Any] = resp.json()
        return summary


class Launcher:
    """Starts servers and apps under one directory and stops all of them at teardown."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._servers: list[SurgeServer] = []
        self._apps: list[AppProcess] = []

    def server(
        self,
        *,
        port: int | None = None,
        sdk_urls: list[str] | None = None,
        extra_args: list[str] | None = None,
        start: bool = True,
        signing_key: str | None = None,
    ) -> SurgeServer:
        """A `surge dev` server, or with `signing_key` a production `surge start` node."""
        port = port or free_port()
        server = SurgeServer(
            port=port,
            db_path=self.base_dir / f"surge-{port}.db",
            log_path=self.base_dir / f"surge-{port}.log",
            sdk_urls=sdk_urls or [],
            extra_args=extra_args or [],
            signing_key=signing_key,
        )
        self._servers.append(server)
        return server.start() if start else server

    def app(
        self,
        kind: str,
        server: SurgeServer | str,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> AppProcess:
        """A compat app in dev mode, or in production mode when `server` has a signing key;
        `env` adds to its environment."""
        server_url = server if isinstance(server, str) else server.url
        port = port or free_port()
        app = AppProcess(
            kind=kind,
            port=port,
            server_url=server_url,
            log_path=self.base_dir / f"app-{kind}-{port}.log",
            signing_key=None if isinstance(server, str) else server.signing_key,
            env=env,
        )
        self._apps.append(app)
        return app.start()

    def close(self) -> None:
        for app in self._apps:
            app.close()
        for server in self._servers:
            server.close()

    def dump_logs(self) -> str:
        parts = [f"--- {p.name} ({p.log_path}) ---\n{p.log_tail()}" for p in self._everything()]
        return "\n".join(parts)

    def _everything(self) -> list[_Process]:
        return [*self._servers, *self._apps]


def _surge_executable() -> str:
    beside_python = Path(sys.executable).with_name("surge")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("surge")
    if found is None:
        pytest.fail("the `surge` command is not installed (run `make install`)")
    return found
