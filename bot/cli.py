"""Command line: ``route-me serve | doctor | register | costs | bench``."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path


def _environment(env_file: str | None) -> dict[str, str]:
    """The process environment, completed (never overridden) by a .env file if present."""
    from dotenv import dotenv_values

    env = dict(os.environ)
    path = Path(env_file or ".env")
    if path.is_file():
        for key, value in dotenv_values(path).items():
            if value is not None:
                env.setdefault(key, value)
    return env


def _settings_or_exit(env: dict[str, str], *, require_model_keys: bool = True):
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings(env, require_model_keys=require_model_keys)
    except SettingsError as exc:
        print("route-me cannot start; fix these settings (environment or .env):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _new_event_loop():
    """uvloop where it is installed (Linux, macOS): the intake is loop-bound; else asyncio's."""
    try:
        import uvloop
    except ImportError:
        import asyncio

        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.intake_limits import run_guarded

    env = _environment(args.env_file)
    settings = _settings_or_exit(env)
    from bot import logcontext

    logcontext.configure(settings.log_level, fmt=settings.log_format, secrets=logcontext.secret_values(env))
    import faulthandler

    from bot.store.sqlite import StoreUnwritable

    # A fatal signal (SIGBUS from a memory-mapped file, SIGSEGV) leaves a traceback in the log
    # instead of a silent death.
    faulthandler.enable()
    try:
        from bot.store import is_postgres_url
        from bot.store.sqlite import check_writable

        if not is_postgres_url(settings.db):
            check_writable(settings.db)
    except StoreUnwritable as exc:
        print(f"route-me cannot start: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    # SIGTERM: aiohttp stops listening and gives in-flight deliveries (answered within 1 s) a
    # moment; the app's cleanup then drains the worker within ROUTE_ME_SHUTDOWN_GRACE.
    # run_guarded is run_app with the connection guard of bot/intake_limits.py.
    run_guarded(app, host=settings.host, port=settings.port, header_timeout=settings.header_timeout,
                shutdown_timeout=2.0, print=lambda line: logging.getLogger("route-me").info("%s", line),
                loop=_new_event_loop())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import asyncio

    from bot import doctor
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings(_environment(args.env_file))
    except SettingsError as exc:
        checks = doctor.settings_checks(exc.problems)
    else:
        checks = asyncio.run(doctor.run_checks(settings))
    text, code = doctor.report(checks)
    print(text)
    return code


def cmd_register(args: argparse.Namespace) -> int:
    import asyncio
    import webbrowser

    from bot.register import DEFAULT_GITHUB_URL, Options, RegisterError, api_url_for, next_steps, register

    env = _environment(args.env_file)
    github_url = (args.github_url or env.get("GITHUB_URL", "").strip() or DEFAULT_GITHUB_URL).rstrip("/")
    options = Options(manifest=Path(args.manifest), out=Path(args.out or args.env_file or ".env"),
                      github_url=github_url, api_url=api_url_for(github_url, env), org=args.org, name=args.name,
                      webhook_url=args.webhook_url, allow_workflows=args.allow_workflows, force=args.force,
                      host=args.host, port=args.port)

    def ready(url: str) -> None:
        print(f"Open {url} in your browser to register route-me on {github_url}"
              + (f" for the organization {args.org}" if args.org else "") + " (Ctrl-C to stop).", flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    try:
        registered = asyncio.run(register(options, on_ready=ready))
    except RegisterError as exc:
        print(f"route-me register: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("route-me register: stopped; nothing was written", file=sys.stderr)
        return 130
    print("\n".join(next_steps(registered, options=options)))
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    from bot.costs_report import print_costs

    if args.repo is not None:
        try:
            parse_repo(args.repo)
        except ValueError as exc:
            print(f"route-me costs: {exc}", file=sys.stderr)
            return 2
    env = _environment(args.env_file)
    db = args.db or env.get("ROUTE_ME_DB") or "./route-me.db"
    return print_costs(db, repo=args.repo, by=args.by, as_json=args.json)


def cmd_bench(args: argparse.Namespace) -> int:
    import asyncio

    from bot import split_bench
    from bot.services import open_services
    from bot.stages.runtime import build_runtime, close_runtime

    if args.tasks and args.verify:
        from bot.task_bench.cli import verify_command

        return verify_command(Path(args.tasks), only=args.only or None, concurrency=args.concurrency)
    if args.tasks:
        return cmd_bench_tasks(args)
    if not args.repo or not args.issue:
        print("route-me bench: give --tasks DIR (local tasks) or --repo owner/name --issue N (GitHub issues)",
              file=sys.stderr)
        return 2
    try:
        splits = split_bench.parse_splits(args.splits)
        owner, name = parse_repo(args.repo)
    except ValueError as exc:
        print(f"route-me bench: {exc}", file=sys.stderr)
        return 2
    settings = _settings_or_exit(_environment(args.env_file))

    async def run() -> list[split_bench.SplitResult]:
        async with open_services(settings) as services:
            await build_runtime(services)
            try:
                installation = args.installation_id or await split_bench.find_installation(services, owner, name)
                results = []
                for number in args.issue:
                    results += await split_bench.bench_issue(services, owner=owner, name=name, number=number,
                                                             installation_id=installation, splits=splits)
                return results
            finally:
                await close_runtime(services)

    try:
        results = asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - one readable line; the cause names the fix
        print(f"route-me bench: {unreachable(exc, settings.github_api_url)}", file=sys.stderr)
        return 1
    print(split_bench.render_table(results))
    if args.json:
        Path(args.json).write_text(split_bench.to_json(results))
    return 1 if any(r.error for r in results) else 0


def cmd_bench_tasks(args: argparse.Namespace) -> int:
    """``bench --tasks``: the splits on local tasks decided by hidden checks (SPEC section 12)."""
    from bot import split_bench
    from bot.task_bench.cli import run_tasks_command

    try:
        splits = split_bench.parse_splits(args.splits)
    except ValueError as exc:
        print(f"route-me bench: {exc}", file=sys.stderr)
        return 2
    env = _environment(args.env_file)
    from bot.settings import SettingsError, load_settings

    try:
        settings = load_settings(env, require_github=False)
    except SettingsError as exc:
        print("route-me bench cannot start; fix these settings (environment or .env):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return run_tasks_command(settings, tasks_dir=Path(args.tasks), out=Path(args.out or "bench-out"),
                             splits=splits, repeats=args.repeat, reasonings=args.reasoning or [],
                             concurrency=args.concurrency, only=args.only or None)


_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def parse_repo(value: str) -> tuple[str, str]:
    """``owner/name`` as GitHub spells repositories, or ValueError saying what is wrong."""
    value = value.strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not _REPO.match(value) or value.split("/", 1)[1] in (".", ".."):
        raise ValueError(f"--repo '{value}' is not owner/name (for example octo-org/calc)")
    owner, name = value.split("/", 1)
    return owner, name


def unreachable(exc: BaseException, api_url: str) -> str:
    """What an error from talking to GitHub means to the operator, in one line."""
    import aiohttp
    import gidgethub

    if isinstance(exc, (aiohttp.ClientConnectionError, TimeoutError, OSError)):
        return f"cannot reach GitHub at {api_url} ({type(exc).__name__}); check GITHUB_API_URL and the network"
    if isinstance(exc, gidgethub.HTTPException):
        return f"GitHub answered {int(exc.status_code)} ({exc}); run route-me doctor to check the App's settings"
    return f"{type(exc).__name__}: {exc}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("route-me")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="route-me", description=__doc__)
    parser.add_argument("--version", action="version", version=f"route-me {_version()}")
    parser.add_argument("--env-file", help="read settings from this file as well (default: .env)")
    # Also accepted after the command (`route-me doctor --env-file prod.env`), where people type it.
    env_file = argparse.ArgumentParser(add_help=False)
    env_file.add_argument("--env-file", default=argparse.SUPPRESS,
                          help="read settings from this file as well (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the webhook service", parents=[env_file]).set_defaults(func=cmd_serve)
    commands.add_parser("doctor", help="check that the settings work (GitHub, providers, prices, store); "
                        "exit 1 on any problem", parents=[env_file]).set_defaults(func=cmd_doctor)
    register = commands.add_parser(
        "register", parents=[env_file],
        help="register the GitHub App from app.yml through GitHub's manifest flow and write .env (mode 0600)")
    register.add_argument("--org", help="register it for this organization (default: your personal account)")
    register.add_argument("--github-url", help="GitHub's web address, for Enterprise Server "
                          "(default: GITHUB_URL or https://github.com; the API is GITHUB_API_URL or derived)")
    register.add_argument("--manifest", default="app.yml", help="the App manifest (default: ./app.yml)")
    register.add_argument("--out", help="the file to write (default: --env-file or .env)")
    register.add_argument("--name", help="the App's name (default: app.yml's; GitHub names are unique)")
    register.add_argument("--webhook-url", help="where GitHub delivers events (your host's /api/github/webhooks "
                          "or a webhook proxy); without it the webhook starts inactive")
    register.add_argument("--allow-workflows", action="store_true",
                          help="also ask for workflows: write (only if repositories allow workflow edits)")
    register.add_argument("--force", action="store_true", help="replace the App settings of an existing file")
    register.add_argument("--host", default="127.0.0.1", help="where the local page listens (default 127.0.0.1)")
    register.add_argument("--port", type=int, default=3000, help="its port (default 3000; 0 picks a free one)")
    register.add_argument("--no-browser", action="store_true", help="print the page's address, do not open it")
    register.set_defaults(func=cmd_register)
    costs = commands.add_parser("costs", help="print the cost ledger's totals", parents=[env_file])
    costs.add_argument("--db", help="state file (default: ROUTE_ME_DB or ./route-me.db)")
    costs.add_argument("--repo", help="only this owner/name")
    costs.add_argument("--by", choices=["repo", "issue", "stage", "model", "all"], default="all")
    costs.add_argument("--json", action="store_true", help="print the totals as JSON (for scripts)")
    costs.set_defaults(func=cmd_costs)
    bench = commands.add_parser("bench", help="run the splits side by side on local tasks with hidden checks "
                                "(--tasks) or on real issues (--repo/--issue); posts nothing",
                                parents=[env_file])
    bench.add_argument("--tasks", help="a folder of tasks (task.toml, repo/, hidden/): run offline")
    bench.add_argument("--out", help="with --tasks: results.json, report.md, chart.png go here; finished "
                       "cells are kept and skipped on a re-run (default: ./bench-out)")
    bench.add_argument("--repeat", type=int, default=1, help="with --tasks: runs per task and split (default 1)")
    bench.add_argument("--reasoning", action="append", help="with --tasks: a reasoning setting per role, e.g. "
                       "planner=high,implementer=off; repeat the option to compare settings")
    bench.add_argument("--concurrency", type=int, default=4, help="with --tasks: cells run at once (default 4)")
    bench.add_argument("--only", action="append", help="with --tasks: only this task (repeatable)")
    bench.add_argument("--verify", action="store_true", help="with --tasks: call no model; check that each "
                       "task's check fails on repo/ and passes with its reference fix (fix/)")
    bench.add_argument("--repo", help="owner/name")
    bench.add_argument("--issue", type=int, action="append", help="issue number (repeatable)")
    bench.add_argument("--splits", default="OO,OK,KO,KK", help="comma-separated, default all four")
    bench.add_argument("--installation-id", type=int, help="default: looked up for the repository")
    bench.add_argument("--json", help="also write the results here")
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
