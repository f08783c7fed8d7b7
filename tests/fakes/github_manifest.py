"""The web half of GitHub's App manifest flow, as a browser sees it (the API half, the code
conversion, is a route of the fake GitHub API: ``POST /app-manifests/{code}/conversions``).

GitHub's flow (docs.github.com, "Registering a GitHub App from a manifest"): a form POSTs a
``manifest`` field (JSON) to ``/settings/apps/new?state=…`` (or
``/organizations/<org>/settings/apps/new?state=…``); GitHub shows a page where the user
confirms the App's name and clicks "Create GitHub App"; GitHub then redirects the browser to
the manifest's ``redirect_url`` with ``?code=…&state=…``.  The code is good for one
conversion within one hour.  A manifest without ``url``, with a ``hook_attributes`` lacking
``url``, or without ``redirect_url`` cannot complete the flow; this fake refuses them as
GitHub does, with an error page.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.github_server import FakeGitHub


class FakeGitHubWeb:
    """``async with FakeGitHubWeb(github) as web: web.url`` serves the manifest pages; confirmed
    Apps are handed to ``github.manifest_codes`` for the API's conversion route."""

    def __init__(self, github: FakeGitHub) -> None:
        self.github = github
        self.url = ""
        self.received: list[dict[str, Any]] = []  # each manifest posted, with its account and state
        self._pending: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeGitHubWeb:
        app = web.Application()
        app.router.add_post("/settings/apps/new", self._new)
        app.router.add_post("/organizations/{org}/settings/apps/new", self._new)
        app.router.add_post("/settings/apps/new/confirm", self._confirm)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _new(self, request: web.Request) -> web.Response:
        form = await request.post()
        raw = form.get("manifest")
        try:
            manifest = json.loads(str(raw)) if raw is not None else None
        except ValueError:
            manifest = None
        problem = self._problem(manifest)
        if problem:
            return web.Response(status=422, content_type="text/html",
                                text=f"<h1>Invalid GitHub App configuration</h1><p>{html.escape(problem)}</p>")
        account = request.match_info.get("org") or "octo-operator"
        state = request.query.get("state")
        self.received.append({"manifest": manifest, "account": account, "state": state})
        ticket = secrets.token_urlsafe(12)
        self._pending[ticket] = {"manifest": manifest, "account": account, "state": state}
        name = html.escape(str(manifest.get("name") or ""))
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Create GitHub App</title></head>
<body><h1>Create GitHub App for {html.escape(account)}</h1>
<form method="post" action="/settings/apps/new/confirm">
<input type="hidden" name="ticket" value="{ticket}">
<label>GitHub App name <input name="name" id="app-name" value="{name}"></label>
<button type="submit" id="create">Create GitHub App for {html.escape(account)}</button>
</form></body></html>"""
        return web.Response(text=page, content_type="text/html")

    async def _confirm(self, request: web.Request) -> web.Response:
        form = await request.post()
        pending = self._pending.pop(str(form.get("ticket", "")), None)
        if pending is None:
            return web.Response(status=404, text="Not Found")
        manifest = dict(pending["manifest"])
        manifest["name"] = str(form.get("name") or manifest.get("name") or "")
        code = secrets.token_hex(10)
        self.github.manifest_codes[code] = {"manifest": manifest, "account": pending["account"]}
        query = {"code": code}
        if pending["state"] is not None:
            query["state"] = pending["state"]
        raise web.HTTPFound(f"{manifest['redirect_url']}?{urlencode(query)}")

    @staticmethod
    def _problem(manifest: Any) -> str | None:
        if not isinstance(manifest, dict):
            return "The manifest is not a JSON object."
        if not manifest.get("url"):
            return "Url can't be blank"
        hook = manifest.get("hook_attributes")
        if hook is not None and (not isinstance(hook, dict) or not hook.get("url")):
            return "Hook attributes url can't be blank"
        if not manifest.get("redirect_url"):
            return "Redirect url can't be blank"
        permissions = manifest.get("default_permissions") or {}
        allowed = {"read", "write", "admin"}
        bad = [k for k, v in permissions.items() if v not in allowed] if isinstance(permissions, dict) else ["?"]
        if bad:
            return f"Default permissions are invalid: {', '.join(bad)}"
        return None
