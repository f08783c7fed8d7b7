"""`route-me register`: the whole manifest flow driven in a real headless Chromium against a fake GitHub.

The local page posts app.yml as the manifest to the fake's /settings/apps/new, the fake's
confirmation page redirects back with ?code=, and register exchanges that code at the fake
API's conversions endpoint and writes .env (mode 0600) that the settings accept.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.register import Options, RegisterError, build_manifest, register
from bot.settings import load_settings
from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_manifest import FakeGitHubWeb

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = Path(os.environ.get("ROUTE_ME_SCREENSHOTS", "")) if os.environ.get("ROUTE_ME_SCREENSHOTS") else None


def browser():
    """A headless Chromium through Debian's chromium-driver; skipped locally without it, a failure in CI."""
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromium-driver are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1000,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def drive(local_url: str, shots: Path) -> dict[str, str]:
    """What a person does: open the page, press the button, confirm on GitHub; returns the pages' texts."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(local_url)
        first = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(shots / "register-page.png"))
        driver.find_element(By.ID, "register").click()
        WebDriverWait(driver, 15).until(seen.presence_of_element_located((By.ID, "create")))
        github_page = driver.find_element(By.TAG_NAME, "body").text
        driver.find_element(By.ID, "create").click()
        WebDriverWait(driver, 15).until(seen.title_contains("registered"))
        done = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(shots / "register-done.png"))
        return {"first": first, "github": github_page, "done": done}
    finally:
        driver.quit()


async def run_flow(options: Options, shots: Path):
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(register(options, on_ready=ready.set_result, timeout=60))
    local = await asyncio.wait_for(asyncio.shield(ready), 10)
    try:
        pages = await asyncio.to_thread(drive, local, shots)
    finally:
        if not task.done():
            await asyncio.sleep(0.5)
    return await task, pages


@pytest.fixture
async def github_web(github):
    async with FakeGitHubWeb(github) as fake:
        yield fake


@pytest.mark.parametrize("org", [None, "octo-org"])
async def test_the_whole_manifest_flow_in_a_real_browser_writes_a_0600_env(github, github_web, tmp_path, org):
    out = tmp_path / "app" / ".env"
    out.parent.mkdir()
    out.write_text("# mine\nANTHROPIC_API_KEY=sk-ant-kept\n")
    options = Options(manifest=ROOT / "app.yml", out=out, github_url=github_web.url, api_url=github.url,
                      org=org, port=0)
    shots = SHOTS or tmp_path
    registered, pages = await run_flow(options, shots)

    # the page said what will happen, and GitHub got app.yml as the manifest with this run's redirect
    assert "Register route-me as a GitHub App" in pages["first"]
    assert "Create the GitHub App on GitHub" in pages["first"]
    [posted] = github_web.received
    assert posted["account"] == (org or "octo-operator")
    manifest = posted["manifest"]
    assert manifest["default_permissions"]["issues"] == "write"
    assert manifest["redirect_url"].endswith("/callback") and manifest["redirect_url"].startswith("http://127.0.0.1:")
    assert manifest["hook_attributes"]["active"] is False  # app.yml's placeholder host is not a webhook
    assert posted["state"] and len(posted["state"]) >= 24
    # the conversions endpoint was called once, with the code GitHub's redirect carried
    assert len(github.manifest_conversions) == 1
    assert github.manifest_codes == {}  # the code was used up
    assert pages["done"].startswith("✓ GitHub App registered")
    assert "installations/new" in pages["done"]

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    values = dotenv_values(out)
    assert values["ANTHROPIC_API_KEY"] == "sk-ant-kept"  # the operator's own lines are kept
    assert values["GITHUB_APP_ID"] == str(github.app_id) == str(registered.app_id)
    assert values["GITHUB_CLIENT_ID"].startswith("Iv23") and values["GITHUB_CLIENT_SECRET"]
    assert values["GITHUB_WEBHOOK_SECRET"] == github.manifest_conversions[0]["webhook_secret"]
    assert values["GITHUB_API_URL"] == github.url
    # the settings accept what was written: the key parses, the secret is there
    settings = load_settings({**values, "OPENAI_API_KEY": "k"})
    assert settings.github_private_key.strip() == generate_app_key()[0].strip()


async def test_a_callback_with_another_state_is_refused_and_nothing_is_written(github, tmp_path):
    import aiohttp

    out = tmp_path / ".env"
    options = Options(manifest=ROOT / "app.yml", out=out, github_url="http://127.0.0.1:9", api_url=github.url, port=0)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(register(options, on_ready=ready.set_result, timeout=5))
    local = await ready
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{local}/callback?code=abc&state=forged") as response:
            assert response.status == 400
            assert "does not belong to this run" in await response.text()
        async with session.get(local) as response:
            page = await response.text()
            assert 'action="http://127.0.0.1:9/settings/apps/new?state=' in page
    with pytest.raises(RegisterError, match="no answer from GitHub in time"):
        await task
    assert not out.exists() and github.manifest_conversions == []


async def test_an_expired_code_is_reported_not_written(github, github_web, tmp_path):
    import aiohttp

    out = tmp_path / ".env"
    options = Options(manifest=ROOT / "app.yml", out=out, github_url=github_web.url, api_url=github.url, port=0)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(register(options, on_ready=ready.set_result, timeout=10))
    local = await ready
    async with aiohttp.ClientSession() as session:
        async with session.get(local) as response:
            state = (await response.text()).split("state=", 1)[1].split('"', 1)[0]
        async with session.get(f"{local}/callback?code=never-issued&state={state}") as response:
            assert response.status == 502
            assert "GitHub answered 404 to the code exchange" in await response.text()
    with pytest.raises(RegisterError, match="404"):
        await task
    assert not out.exists()


def test_an_existing_app_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / ".env"
    out.write_text("GITHUB_APP_ID=77\n")
    options = Options(manifest=ROOT / "app.yml", out=out, port=0)
    with pytest.raises(RegisterError, match="already names a GitHub App"):
        asyncio.run(register(options, on_ready=lambda url: None, timeout=1))
    assert out.read_text() == "GITHUB_APP_ID=77\n"


def test_the_manifest_takes_a_webhook_url_name_and_workflow_permission(tmp_path):
    options = Options(manifest=ROOT / "app.yml", out=tmp_path / ".env", name="route-me-acme",
                      webhook_url="https://smee.io/abc", allow_workflows=True)
    manifest = build_manifest(options, redirect_url="http://127.0.0.1:3000/callback")
    assert manifest["name"] == "route-me-acme"
    assert manifest["hook_attributes"] == {"url": "https://smee.io/abc", "active": True}
    assert manifest["default_permissions"]["workflows"] == "write"
    assert "workflows" not in build_manifest(Options(manifest=ROOT / "app.yml", out=tmp_path / ".env"),
                                             redirect_url="http://x/callback")["default_permissions"]
