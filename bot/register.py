"""``route-me register``: GitHub's App manifest flow, from ``app.yml`` to a ready ``.env``.

A local page posts the manifest to GitHub (``GITHUB_URL`` for Enterprise Server, a personal
account or ``--org``); GitHub asks the operator to confirm and redirects back to this page
with a one-time ``code``; the code is exchanged (``POST /app-manifests/{code}/conversions``)
for the App's id, private key, webhook secret and OAuth client, which are written to ``.env``
with mode 0600.  The ``state`` parameter ties the redirect to this run, so a code from
another tab or another run is refused.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

DEFAULT_GITHUB_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"
PLACEHOLDER_HOST = "YOUR-HOST"
# The variables register writes; existing .env lines for them are replaced, every other line kept.
WRITTEN = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "GITHUB_CLIENT_ID",
           "GITHUB_CLIENT_SECRET", "GITHUB_API_URL")


class RegisterError(Exception):
    """A problem the operator fixes (shown as one line, never a traceback)."""


@dataclass(frozen=True)
class Options:
    manifest: Path
    out: Path
    github_url: str = DEFAULT_GITHUB_URL
    api_url: str = DEFAULT_API_URL
    org: str | None = None
    name: str | None = None
    webhook_url: str | None = None
    allow_workflows: bool = False
    force: bool = False
    host: str = "127.0.0.1"
    port: int = 3000


@dataclass
class Registered:
    """What the conversion returned that the operator needs next (secrets stay in the file)."""

    app_id: int
    name: str
    slug: str
    html_url: str
    owner: str
    webhook_active: bool
    env_file: Path
    notes: list[str] = field(default_factory=list)


def api_url_for(github_url: str, env: Mapping[str, str]) -> str:
    """GITHUB_API_URL if set; api.github.com for github.com; ``<host>/api/v3`` for Enterprise Server."""
    explicit = env.get("GITHUB_API_URL", "").strip().rstrip("/")
    if explicit:
        return explicit
    if github_url.rstrip("/") in ("https://github.com", "http://github.com"):
        return DEFAULT_API_URL
    return github_url.rstrip("/") + "/api/v3"


def build_manifest(options: Options, *, redirect_url: str) -> dict[str, Any]:
    """app.yml as GitHub wants it, with this run's redirect and the operator's overrides."""
    try:
        data = yaml.safe_load(options.manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegisterError(f"cannot read the manifest {options.manifest} ({exc.strerror}); "
                            "run from the repository or pass --manifest app.yml") from None
    except yaml.YAMLError as exc:
        raise RegisterError(f"{options.manifest} is not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict) or not data.get("url"):
        raise RegisterError(f"{options.manifest} is not an App manifest (it needs at least `url`)")
    manifest = dict(data)
    if options.name:
        manifest["name"] = options.name
    manifest["redirect_url"] = redirect_url
    hook = dict(manifest.get("hook_attributes") or {})
    if options.webhook_url:
        hook.update(url=options.webhook_url, active=True)
    elif PLACEHOLDER_HOST in str(hook.get("url", "")):
        # No public URL yet: GitHub would deliver to a host that does not exist.  Create the
        # App with its webhook off; the next steps say where to set it.
        hook["active"] = False
    if hook:
        manifest["hook_attributes"] = hook
    if options.allow_workflows:
        manifest["default_permissions"] = {**(manifest.get("default_permissions") or {}), "workflows": "write"}
    return manifest


def new_app_url(options: Options, state: str) -> str:
    base = options.github_url.rstrip("/")
    where = f"/organizations/{options.org}" if options.org else ""
    return f"{base}{where}/settings/apps/new?state={state}"


async def exchange(session: aiohttp.ClientSession, api_url: str, code: str) -> dict[str, Any]:
    """``POST /app-manifests/{code}/conversions``: the App's credentials, once (the code is one-time)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{code}/conversions"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "route-me-register",
               "X-GitHub-Api-Version": "2022-11-28"}
    try:
        async with session.post(url, headers=headers) as response:
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RegisterError(f"could not reach {api_url} to exchange the code ({type(exc).__name__}: {exc}); "
                            "check GITHUB_API_URL") from None
    if status != 201 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        raise RegisterError(f"GitHub answered {status} to the code exchange ({message or 'no message'}); "
                            "a code works once and for one hour: run route-me register again")
    missing = [key for key in ("id", "pem", "client_id", "client_secret") if not body.get(key)]
    if missing:
        raise RegisterError(f"GitHub's answer lacks {', '.join(missing)}; nothing was written")
    return body


def env_lines(app: Mapping[str, Any], *, webhook_secret: str, api_url: str) -> list[str]:
    """The .env lines for the App.  The key goes on one line with literal ``\\n`` (read by the
    settings, python-dotenv and ``docker run --env-file`` alike, which multi-line values are not)."""
    pem = str(app["pem"]).strip().replace("\r\n", "\n").replace("\n", "\\n") + "\\n"
    lines = [
        f"# Written by `route-me register` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} for the "
        f"GitHub App '{app.get('name')}' ({app.get('html_url')})",
        f"GITHUB_APP_ID={int(app['id'])}",
        f"GITHUB_PRIVATE_KEY={pem}",
        f"GITHUB_WEBHOOK_SECRET={webhook_secret}",
        f"GITHUB_CLIENT_ID={app['client_id']}",
        f"GITHUB_CLIENT_SECRET={app['client_secret']}",
    ]
    if api_url.rstrip("/") != DEFAULT_API_URL:
        lines.append(f"GITHUB_API_URL={api_url.rstrip('/')}")
    return lines


def existing_app_id(path: Path) -> str | None:
    from dotenv import dotenv_values

    if not path.is_file():
        return None
    return dotenv_values(path).get("GITHUB_APP_ID") or None


def write_env(path: Path, lines: list[str]) -> None:
    """Replace register's variables in ``path`` (others kept), atomically, readable by the owner only."""
    kept: list[str] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if key not in WRITTEN and not line.startswith("# Written by `route-me register`"):
                kept.append(line)
    text = "\n".join([*kept, *lines]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 before a byte of secret is written into it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def next_steps(registered: Registered, *, options: Options) -> list[str]:
    install = f"{registered.html_url.rstrip('/')}/installations/new"
    steps = [f"Registered the GitHub App '{registered.name}' (id {registered.app_id}, owner {registered.owner}) "
             f"and wrote {registered.env_file} (mode 0600).", "Next:",
             f"  1. Install it on the repositories route-me should work on: {install}"]
    if registered.webhook_active:
        steps.append(f"  2. Its webhook delivers to {options.webhook_url}; start route-me where that URL points.")
    else:
        where = f"/organizations/{options.org}" if options.org else ""
        settings_url = f"{options.github_url.rstrip('/')}{where}/settings/apps/{registered.slug}"
        steps.append(f"  2. Set its webhook URL and tick Active at {settings_url} (Webhook): "
                     "https://<your host>/api/github/webhooks once deployed, or for a local trial a webhook "
                     "proxy such as smee.io forwarding to http://127.0.0.1:8080/api/github/webhooks.")
    steps.append("  3. Add the model keys (ANTHROPIC_API_KEY, OPENAI_API_KEY, OPENAI_BASE_URL) to "
                 f"{registered.env_file}, then run: route-me doctor && route-me serve")
    return steps


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: -apple-system, "Segoe UI", system-ui, sans-serif; color: #1f2328; background: #f6f8fa;
        margin: 0; padding: 40px 16px; }}
 main {{ max-width: 720px; margin: 0 auto; background: #fff; border: 1px solid #d0d7de; border-radius: 12px;
        padding: 32px 36px; }}
 h1 {{ font-size: 26px; margin: 0 0 8px; }}
 p.lead {{ font-size: 16px; color: #59636e; margin: 0 0 24px; }}
 table {{ border-collapse: collapse; width: 100%; margin: 8px 0 24px; font-size: 14px; }}
 th {{ text-align: left; color: #59636e; font-weight: 600; width: 34%; padding: 8px 12px 8px 0;
       vertical-align: top; }}
 td {{ padding: 8px 0; border-top: 1px solid #eaeef2; }} th {{ border-top: 1px solid #eaeef2; }}
 code {{ background: #eff2f5; border-radius: 6px; padding: 2px 6px; font-size: 13px; }}
 button {{ background: #1f883d; color: #fff; border: 0; border-radius: 8px; font-size: 17px; font-weight: 600;
          padding: 12px 22px; cursor: pointer; }}
 button:hover {{ background: #1a7f37; }}
 ol {{ padding-left: 20px; line-height: 1.6; }}
 .ok {{ color: #1a7f37; }} .err {{ color: #d1242f; }}
 .note {{ font-size: 13px; color: #59636e; margin-top: 18px; }}
</style></head>
<body><main>{body}</main></body></html>
"""


def _form_page(options: Options, manifest: dict[str, Any], action: str) -> str:
    permissions = ", ".join(f"{k}: {v}" for k, v in (manifest.get("default_permissions") or {}).items())
    events = ", ".join(manifest.get("default_events") or [])
    hook = manifest.get("hook_attributes") or {}
    webhook = (f"<code>{html.escape(str(hook.get('url')))}</code>" if hook.get("active", True)
               else "off for now (no public URL yet; set it after registering)")
    account = f"the organization <b>{html.escape(options.org)}</b>" if options.org else "your personal account"
    rows = [("Name", html.escape(str(manifest.get("name", "")))),
            ("Owner", account),
            ("GitHub", f"<code>{html.escape(options.github_url)}</code>"),
            ("Webhook", webhook),
            ("Permissions", html.escape(permissions)),
            ("Events", html.escape(events)),
            ("Credentials go to", f"<code>{html.escape(str(options.out))}</code> (mode 0600)")]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    body = f"""
<h1>Register route-me as a GitHub App</h1>
<p class="lead">The button sends route-me's manifest to GitHub. GitHub asks you to confirm the App's name,
then brings you back here, and route-me saves the App's credentials.</p>
<table>{table}</table>
<form method="post" action="{html.escape(action)}">
  <input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">
  <button type="submit" id="register">Create the GitHub App on GitHub</button>
</form>
<p class="note">Nothing leaves this machine except the manifest above; the private key GitHub returns is written
only to the file named above.</p>"""
    return PAGE.format(title="Register route-me", body=body)


def _done_page(registered: Registered, steps: list[str]) -> str:
    items = "".join(f"<li>{html.escape(step.strip()[3:])}</li>" for step in steps[2:])
    body = f"""
<h1 class="ok">✓ GitHub App registered</h1>
<p class="lead"><b>{html.escape(registered.name)}</b> (App id {registered.app_id}) was created and its credentials
were written to <code>{html.escape(str(registered.env_file))}</code> with mode 0600.</p>
<h2>Next</h2><ol>{items}</ol>
<p class="note">You can close this tab; the terminal shows the same steps.</p>"""
    return PAGE.format(title="route-me registered", body=body)


def _error_page(message: str) -> str:
    body = f"""<h1 class="err">Registration did not complete</h1>
<p class="lead">{html.escape(message)}</p>"""
    return PAGE.format(title="route-me registration failed", body=body)


async def register(options: Options, *, on_ready: Callable[[str], None] = print,
                   timeout: float | None = None) -> Registered:
    """Serve the page, wait for GitHub's redirect, exchange the code and write the .env file."""
    if not options.force and existing_app_id(options.out):
        raise RegisterError(f"{options.out} already names a GitHub App (GITHUB_APP_ID={existing_app_id(options.out)}); "
                            "pass --force to replace its App settings, or --out another file")
    state = secrets.token_urlsafe(24)
    finished: asyncio.Future[Registered] = asyncio.get_running_loop().create_future()
    manifest_holder: dict[str, Any] = {}

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_form_page(options, manifest_holder["manifest"], new_app_url(options, state)),
                            content_type="text/html")

    async def callback(request: web.Request) -> web.Response:
        if finished.done():
            return web.Response(text=_error_page("This registration is already finished."), status=410,
                                content_type="text/html")
        code = request.query.get("code", "")
        if not code or not secrets.compare_digest(request.query.get("state", ""), state):
            return web.Response(text=_error_page("This link does not belong to this run of route-me register "
                                                 "(missing code or wrong state); start again from its page."),
                                status=400, content_type="text/html")
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                app = await exchange(session, options.api_url, code)
            hook = manifest_holder["manifest"].get("hook_attributes") or {}
            # GitHub generates a webhook secret with the App; should it not, one is made here.
            webhook_secret = str(app.get("webhook_secret") or secrets.token_hex(32))
            write_env(options.out, env_lines(app, webhook_secret=webhook_secret, api_url=options.api_url))
        except (RegisterError, OSError) as exc:
            message = str(exc) if isinstance(exc, RegisterError) else f"could not write {options.out}: {exc}"
            finished.set_exception(RegisterError(message))
            return web.Response(text=_error_page(message), status=502, content_type="text/html")
        registered = Registered(
            app_id=int(app["id"]), name=str(app.get("name") or app.get("slug")), slug=str(app.get("slug")),
            html_url=str(app.get("html_url") or ""), owner=str((app.get("owner") or {}).get("login", "")),
            webhook_active=bool(hook.get("active", True)) and bool(options.webhook_url), env_file=options.out)
        finished.set_result(registered)
        return web.Response(text=_done_page(registered, next_steps(registered, options=options)),
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port)
        try:
            await site.start()
        except OSError as exc:
            raise RegisterError(f"cannot listen on {options.host}:{options.port} ({exc.strerror}); "
                                "pass --port with a free port") from None
        host, port = runner.addresses[0][:2]
        local = f"http://{host}:{port}"
        manifest_holder["manifest"] = build_manifest(options, redirect_url=f"{local}/callback")
        on_ready(local)
        registered = await asyncio.wait_for(asyncio.shield(finished), timeout)
        await asyncio.sleep(0.2)  # let the done page reach the browser before the server goes
        return registered
    except TimeoutError:
        raise RegisterError("no answer from GitHub in time; run route-me register again") from None
    finally:
        await runner.cleanup()
