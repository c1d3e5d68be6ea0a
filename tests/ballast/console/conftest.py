"""The browser tests' world: the local runtime (moto, the API server, the pump, the node agent with real workers), the
console's proxy in front of its API, and headless Chromium (Debian's: Playwright cannot download its own here)."""
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "out" / "console"
CHROMIUM = "/usr/bin/chromium"
# Running as root needs --no-sandbox; the rest keeps a browser on a closed network from reaching for updates.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TICK_INTERVAL_S = 2  # the stage's 15 s between ticks would make a test wait for each decision
# Nodes that boot in a second, and workers that long-poll for 1 s (their stop timeout less 5), so they drain at once.
SHAPE = {"node_boot_s": 1.0, "stop_timeout_s": 6}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from chalicelib import config, wiring
    from local.runtime import Runtime, Shape

    from app import app

    served_as = app.__class__
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "TICK_INTERVAL_S", TICK_INTERVAL_S)
        local = Runtime(tmp_path_factory.mktemp("runtime"), Shape(**SHAPE)).start()
        yield local
        local.stop()
    assert app.__class__ is served_as
    wiring.reset()  # the next module's moto mock must not reach a stopped server through cached clients


@pytest.fixture(scope="module")
def live(runtime):
    from ballast.api_client import Api
    from ballast.console.server import Console

    served = Console(Api(runtime.api_url, "us-east-1")).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # What the page shows after an action waits for its next poll (2 s) and an API shared with three other test runs
    # on two cores: Playwright's 5 s are too short there.
    expect.set_options(timeout=10_000)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_console(browser, live):
    """A fresh browser context at the console's printed address (its token gives the context a session)."""
    contexts = []

    def open_page(path="#/workloads", viewport=DESKTOP, at=None):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The console's own complaints (a script or style refused by the page's policy, a module that did not load);
        # an API call answered 4xx or 5xx on purpose is logged by the browser too, and is not one of them.
        page.on("console", lambda message: message.type == "error" and "Failed to load resource" not in message.text
                and errors.append(message.text))
        page.errors = errors
        served = at or live
        page.goto(served.url)
        page.goto(f"http://127.0.0.1:{served.port}/{path}")
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def eventually(check, timeout_s: float = 20, every_s: float = 0.25):
    """The first truthy result of check(), or AssertionError with the last one after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s}s: {check.__doc__ or check}: last {result!r}")
        time.sleep(every_s)

