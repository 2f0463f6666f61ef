"""The `surge` verbs that operate a running server through its REST API (`docs/protocol.md`,
"Server endpoints"): `pause`, `resume`, `rerun`, `cancel` and `replay`.

Each prints one short line (or, with `--json`, the answer's `data`); a refusal prints the
server's message on stderr and exits 1, as does a server that cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .api_client import DEFAULT_URL, ApiClient, ApiError, ago_or_time, now_rfc3339, segment
from .options import Option

__all__ = ["add_commands", "run"]

WAIT_INTERVAL_S = 1.0
"""How often `surge replay --wait` asks for the replay's progress."""

CLIENT_OPTIONS = (
    Option(("--url",), "SURGE_URL", "the Surge server's URL", DEFAULT_URL),
    Option(
        ("--signing-key",),
        "SURGE_SIGNING_KEY",
        "the server's signing key, which `surge start` requires of API calls",
    ),
    Option(("--json",), "SURGE_JSON", "print the server's answer as JSON", switch=True),
)

REPLAYABLE = "Failed (the default), Cancelled, Skipped or Completed"


@dataclass(frozen=True)
class Outcome:
    """What a verb got back: the answer's `data` and the line that says it."""

    data: Any
    line: str


Verb = Callable[[ApiClient, argparse.Namespace], Outcome]


def _pause(api: ApiClient, args: argparse.Namespace) -> Outcome:
    body = {"cancel_running": True} if args.cancel_running else None
    data = api.call("POST", f"/v1/functions/{segment(args.function_id)}/pause", body)
    also = "; cancelling its running runs" if args.cancel_running else ""
    return Outcome(data, f"paused {data['function_id']}{also}")


def _resume(api: ApiClient, args: argparse.Namespace) -> Outcome:
    data = api.call("POST", f"/v1/functions/{segment(args.function_id)}/resume")
    said = "resumed {}" if data["was_paused"] else "{} was not paused"
    return Outcome(data, said.format(data["function_id"]))


def _rerun(api: ApiClient, args: argparse.Namespace) -> Outcome:
    body: dict[str, Any] | None = None
    if args.from_step is not None:
        body = {"from_step": args.from_step}
    if args.input is not None:
        try:
            body = {**(body or {}), "input": json.loads(args.input)}
        except ValueError:
            raise ApiError(f"--input must be a JSON array, got {args.input!r}") from None
    data = api.call("POST", f"/v1/runs/{segment(args.run_id)}/rerun", body)
    origin = f" from step {args.from_step}" if args.from_step is not None else ""
    return Outcome(data, f"rerun of {args.run_id}{origin} started: {data['run_id']}")


def _cancel(api: ApiClient, args: argparse.Namespace) -> Outcome:
    data = api.call("DELETE", f"/v1/runs/{segment(args.run_id)}")
    status = data["status"]
    if status == "Cancelled":
        return Outcome(data, f"cancelled {data['run_id']}")
    return Outcome(data, f"run {data['run_id']} had already ended: {status}")


def _replay(api: ApiClient, args: argparse.Namespace) -> Outcome:
    body: dict[str, Any] = {
        "function_id": args.function_id,
        "started_after": args.started_after,
        "started_before": args.started_before or now_rfc3339(),
        "preview": args.preview,
    }
    if args.status:
        body["statuses"] = args.status
    data = api.call("POST", "/v1/replays", body)
    if args.preview:
        line = f"replay of {data['function_id']} would rerun {_runs(data['total'])}"
        return Outcome(data, line)
    started = Outcome(data, f"replay {data['id']} started: {_runs(data['total'])}")
    if not args.wait:
        return started
    if not args.json:
        print(started.line, flush=True)
    return _wait(api, data, show=not args.json)


def _wait(api: ApiClient, replay: dict[str, Any], *, show: bool) -> Outcome:
    """Poll the replay until its job went through every run and the reruns ended, printing
    its progress each time it changed."""
    path = f"/v1/replays/{segment(replay['id'])}"
    shown = ""
    while not (replay["done"] and replay["runs"]["running"] == 0):
        progress = _progress(replay)
        if show and progress != shown:
            print(progress, flush=True)
            shown = progress
        time.sleep(WAIT_INTERVAL_S)
        replay = api.call("GET", path)
    return Outcome(replay, f"replay {replay['id']} done: {_tally(replay) or 'no runs'}")


def _progress(replay: dict[str, Any]) -> str:
    counts = _tally(replay)
    return f"{replay['started']}/{replay['total']} rerun" + (f": {counts}" if counts else "")


def _tally(replay: dict[str, Any]) -> str:
    """The reruns by status, e.g. ``"7 completed, 1 failed, 1 running"``."""
    runs = replay["runs"]
    order = ("completed", "failed", "cancelled", "skipped", "running")
    return ", ".join(f"{runs[status]} {status}" for status in order if runs.get(status))


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _moment(text: str) -> str:
    try:
        return ago_or_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _verb(commands: Subparsers, name: str, verb: Verb, summary: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary + ".")
    parser.set_defaults(verb=verb)
    return parser


def add_commands(commands: Subparsers) -> None:
    """Add the verbs to the `surge` command's subcommands."""
    pause = _verb(commands, "pause", _pause, "pause a function: its events record skipped runs")
    pause.add_argument("function_id", metavar="FUNCTION-ID", help="the function's slug")
    pause.add_argument(
        "--cancel-running", action="store_true", help="also cancel the function's running runs"
    )
    resume = _verb(commands, "resume", _resume, "resume a paused function")
    resume.add_argument("function_id", metavar="FUNCTION-ID", help="the function's slug")
    rerun = _verb(commands, "rerun", _rerun, "run a run's function again with its event(s)")
    rerun.add_argument("run_id", metavar="RUN-ID")
    rerun.add_argument(
        "--from-step",
        metavar="ID",
        help="keep the results of the steps finished before this one, and run it and the rest",
    )
    rerun.add_argument(
        "--input",
        metavar="JSON",
        help="with --from-step: that step's arguments, edited, as a JSON array (apps on the"
        " TypeScript or the Surge SDK)",
    )
    cancel = _verb(commands, "cancel", _cancel, "cancel a run")
    cancel.add_argument("run_id", metavar="RUN-ID")
    replay = _verb(commands, "replay", _replay, "rerun a function's runs that ended in a window")
    _replay_arguments(replay)
    for parser in (pause, resume, rerun, cancel, replay):
        for option in CLIENT_OPTIONS:
            option.add_to(parser)


def _replay_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("function_id", metavar="FUNCTION-ID", help="the function's slug")
    replay.add_argument(
        "--since",
        "--started-after",
        dest="started_after",
        metavar="TIME",
        type=_moment,
        required=True,
        help="runs started from this time on: RFC 3339, or a duration ago (2h, 30m, 7d)",
    )
    replay.add_argument(
        "--until",
        "--started-before",
        dest="started_before",
        metavar="TIME",
        type=_moment,
        help="runs started before this time (default now): RFC 3339, or a duration ago",
    )
    replay.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help=f"rerun the runs that ended so: {REPLAYABLE} (repeatable)",
    )
    replay.add_argument("--preview", action="store_true", help="only count the runs it would rerun")
    replay.add_argument(
        "--wait", action="store_true", help="print its progress until every rerun has ended"
    )


def run(args: argparse.Namespace) -> int:
    """Run the verb `args` names; return the exit status."""
    if getattr(args, "wait", False) and args.preview:
        print(f"surge {args.command}: --wait and --preview exclude each other", file=sys.stderr)
        return 2
    try:
        api = ApiClient(args.url, args.signing_key)
    except ApiError as exc:
        print(f"surge {args.command}: {exc.message}", file=sys.stderr)
        return 2
    try:
        outcome = args.verb(api, args)
    except ApiError as exc:
        print(f"surge {args.command}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"surge {args.command}: interrupted (what the server started goes on)", file=sys.stderr
        )
        return 130
    finally:
        api.close()
    if args.json:
        print(json.dumps(outcome.data, indent=2, ensure_ascii=False))
    else:
        print(outcome.line)
    return 0
