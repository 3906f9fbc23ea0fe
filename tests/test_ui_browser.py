"""The UI in real Chromium (Playwright) against a running `c66d serve`: sign in, create a stack
(first a refused service.yml), deploy and watch it live, see containers, roll back, build from
git and watch the log arrive live, browse the registry. Screenshots go to
tests/artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.gitrepo import make_repo
from tests.support.http import ADMIN_PASSWORD
from tests.support.proc import C66dProcess
from tests.support.stacks import remove_stack_containers, unique

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "artifacts" / "screenshots"
LIVE = 60_000  # ms: a rollout or a build on a loaded machine

BAD_YML = """services:
  web:
    image: {image}
    ports: ["99999"]
    stop_grace: soon
"""
GOOD_YML = """services:
  web:
    image: {image}
    command: sh -c 'mkdir -p /w && echo "$VERSION" > /w/index.html && exec httpd -f -p 8000 -h /w'
    ports: ["8000"]
    env_vars: {{VERSION: _env(VERSION:v1)}}
    health: {{endpoint: /index.html, timeout: 20s}}
    stop_grace: 1s
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install (Debian's chromium)")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
def server(c66d: C66dProcess) -> C66dProcess:
    return c66d.start()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, url: str) -> None:
    await page.goto(url + "/login")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def create_stack(page: Page, url: str, name: str, yml: str) -> None:
    await page.goto(url + "/stacks")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("service.yml").fill(yml)
    await page.get_by_role("button", name="Create stack").click()


async def wait_deployed(page: Page, number: int) -> None:
    """On the deployment page: the status turns to succeeded without a reload (SSE)."""
    await expect(page.get_by_role("heading", name=re.compile(f"Deployment #{number} "))
                 ).to_be_visible()
    status = page.locator("#deployment-status")
    await expect(status).to_have_text(re.compile("succeeded|failed"), timeout=LIVE)
    assert await status.inner_text() == "succeeded", await page.locator("#deployment").inner_text()


async def test_stack_deploy_rollback_build_and_registry_in_a_browser(
        server: C66dProcess, browser: Browser, busybox_image: str, tmp_path: Path) -> None:
    name = unique("ui")
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        await sign_in(page, server.url)
        await shot(page, "dashboard")
        await stack_flow(page, server.url, name, busybox_image)
        await build_flow(page, server.url, name + "-b", tmp_path)
        await other_pages(page, server.url, name)
    finally:
        await page.close()
        server.kill()  # first: a running c66d would put its containers back
        remove_stack_containers(name)


async def stack_flow(page: Page, url: str, name: str, image: str) -> None:
    # A bad file is refused whole, with the key path and the line of each problem.
    await create_stack(page, url, name, BAD_YML.format(image=image))
    problems = page.get_by_role("alert")
    await expect(problems).to_contain_text("services.web.ports")
    await expect(problems).to_contain_text("line 4")
    await expect(problems).to_contain_text("services.web.stop_grace")
    await expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    await shot(page, "stacks-refused")
    await create_stack(page, url, name, GOOD_YML.format(image=image))
    await expect(page.get_by_role("heading", name=f"Stack {name}")).to_be_visible()

    await page.get_by_role("button", name="Deploy now").click()
    await page.evaluate("window.c66dMarker = 'same page'")
    await wait_deployed(page, 1)
    assert await page.evaluate("window.c66dMarker") == "same page"  # live, not reloaded
    await expect(page.locator("table.steps")).to_contain_text("healthy")
    await shot(page, "deployment")

    await page.goto(f"{url}/stacks/{name}")
    containers = page.locator("#services table.containers tbody tr")
    await expect(containers).to_have_count(1)
    await expect(containers.first).to_contain_text("healthy")
    await expect(containers.first).to_contain_text("#1")

    # A new version through the service.yml editor (a bad edit first), deployed; then roll
    # back to #1, which brings #1's containers back.
    editor = page.locator("#yml-text")
    await editor.fill(GOOD_YML.format(image=image).replace("stop_grace: 1s", "stop_grace: 1x"))
    await page.get_by_role("button", name="Save service.yml").click()
    await expect(page.get_by_role("alert")).to_contain_text("services.web.stop_grace")
    await expect(page.get_by_role("alert")).to_contain_text("line 8")
    await shot(page, "stack-refused-edit")
    await editor.fill(GOOD_YML.format(image=image).replace("VERSION:v1", "VERSION:v2"))
    await page.get_by_role("button", name="Save service.yml").click()
    await expect(page.locator("#yml-text")).to_contain_text("VERSION:v2")
    await page.get_by_role("button", name="Deploy now").click()
    await wait_deployed(page, 2)
    await page.goto(f"{url}/stacks/{name}")
    await expect(page.locator("#services table.containers")).to_contain_text("#2")
    await page.get_by_role("button", name="Roll back to #1").click()
    await wait_deployed(page, 3)
    await expect(page.get_by_text("Rollback to #1.")).to_be_visible()
    await page.goto(f"{url}/stacks/{name}")
    await expect(page.locator("#deployments")).to_contain_text("rollback to #1")
    await expect(page.locator("#services table.containers tbody tr").first).to_contain_text("#3")
    await shot(page, "stack")
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "stack-phone")
    await page.set_viewport_size({"width": 1200, "height": 900})


async def build_flow(page: Page, url: str, name: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "src", dockerfile_extra="COPY version.txt /version.txt\n")
    yml = f"services:\n  web:\n    git_url: {repo.url}\n    git_branch: main\n"
    await create_stack(page, url, name, yml)
    await expect(page.get_by_role("heading", name=f"Stack {name}")).to_be_visible()
    await page.goto(url + "/builds")
    await page.get_by_label("Service to build").select_option(f"{name}/web")
    await page.get_by_role("button", name="Start build").click()
    await expect(page.get_by_role("heading", name=re.compile("^Build \\d+"))).to_be_visible()
    await page.evaluate("window.c66dMarker = 'same page'")
    log = page.locator("#build-log")
    await expect(log).to_contain_text("Step 1/4 : FROM scratch", timeout=LIVE)
    await expect(log).to_contain_text("Step 4/4 : COPY version.txt", timeout=LIVE)
    await expect(page.locator("#build-status")).to_have_text("succeeded", timeout=LIVE)
    assert await page.evaluate("window.c66dMarker") == "same page"
    await shot(page, "build")

    await page.get_by_role("link", name="in the registry").click()
    await expect(page.get_by_role("heading", name=f"{name}/web")).to_be_visible()
    head = repo.head()
    await expect(page.get_by_role("heading", name=head)).to_be_visible()
    await expect(page.locator("code.pull").first).to_contain_text("docker pull ")
    await expect(page.locator("article.tag").first).to_contain_text("sha256:")
    await expect(page.get_by_role("link", name=re.compile(r"^build \d+$")).first).to_be_visible()
    await page.locator("summary").first.click()
    await expect(page.locator("article.tag table").first).to_contain_text("MiB")
    await shot(page, "repository")
    await page.goto(url + "/registry")
    await expect(page.get_by_role("link", name=f"{name}/web")).to_be_visible()
    await shot(page, "registry")


async def other_pages(page: Page, url: str, name: str) -> None:
    await page.goto(url + "/servers")
    await expect(page.locator("#server-list")).to_contain_text("local")
    await shot(page, "servers")
    await page.goto(f"{url}/containers?stack={name}")
    await page.locator("#container-list a").first.click()
    await expect(page.get_by_role("heading", name="Log")).to_be_visible()
    await shot(page, "container")
    await page.goto(url + "/dns")
    await expect(page.locator("#dns-records")).to_contain_text(f"web.{name}.")
    await shot(page, "dns")
    await page.goto(url + "/admin/users")
    await expect(page.get_by_role("heading", name="Users")).to_be_visible()
    await shot(page, "people")
    await page.goto(url + "/")
    await shot(page, "dashboard-after")
