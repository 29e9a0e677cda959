"""Browser tests: Debian's chromium, driven by Playwright, against pytest-django's live server.

Playwright never downloads a browser here: it launches the system's /usr/bin/chromium, which
`scripts/install-browser` installs (`make test` runs it first). Without chromium these tests skip,
unless LATCH_REQUIRE_BROWSER is set (as in CI), when they fail instead.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.app import AppServer, app_server

# The example web app's fixtures (webapp, latch_for_webapp), for tests/browser/test_example_webapp.py.
from tests.browser.webapp import latch_for_webapp, log_written_during, webapp  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests may run as root (CI containers), where Chromium's sandbox refuses to start
    "--disable-gpu",
    # The machine may have no network: without these Chromium keeps calling Google's services and
    # fills the log with refused connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Pages answer in milliseconds, but signing in hashes a password (Argon2): on a busy CI machine
# that alone can take seconds. Waits give up after 10 s rather than Playwright's 5 s (or 30 s).
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="package")
def app() -> Iterator[AppServer]:
    """The app the member is sent back to (tests.browser.app)."""
    with app_server() as server:
        yield server


@pytest.fixture(scope="package")
def chromium(app: AppServer) -> Iterator[Browser]:
    """One browser for all the browser tests; each test gets a fresh context (cookies, storage).

    Package-scoped rather than session-scoped: Playwright's sync API keeps an asyncio loop running
    in this thread while it is started, and the rest of the suite must not run inside it.
    """
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run scripts/install-browser (Debian's chromium package)"
        if os.environ.get("LATCH_REQUIRE_BROWSER"):
            pytest.fail(f"LATCH_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    # Because of that loop Django takes the test's thread for async code and refuses ORM calls in
    # it (SynchronousOnlyOperation). The tests are synchronous code that waits on the browser, so
    # the ORM is safe there; allow it while the browser runs, and only then.
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *app.chromium_args],
        )
        yield browser
        browser.close()


@pytest.fixture
def app_callbacks(app: AppServer) -> list[str]:
    """The URLs the browser opened on https://app.example.org during this test, in order."""
    app.requests.clear()
    return app.requests


@pytest.fixture
def context(chromium: Browser, live_server) -> Iterator[BrowserContext]:
    # Light, whatever the machine prefers: the README's screenshots come from these runs.
    context = chromium.new_context(
        base_url=live_server.url, viewport=VIEWPORTS["desktop"], color_scheme="light"
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def screenshot(page: Page) -> Callable[[str], None]:
    """`screenshot("login")` saves the whole page at desktop and at phone width.

    Into test-artifacts/screenshots/ (git-ignored), as login-desktop.png and login-phone.png; the
    README shows copies of them from docs/screenshots/. It also checks that the page fits each
    width: a page that scrolls sideways on a phone is broken there.
    """

    def take(name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, size in VIEWPORTS.items():
            page.set_viewport_size(size)
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True, animations="disabled")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= size["width"], f"{name} is {scroll_width}px wide at {width} width"
        page.set_viewport_size(VIEWPORTS["desktop"])

    return take


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test that ran the example web app (tests/browser/webapp.py) shows what it logged."""
    report = yield
    if report.failed and (log := log_written_during(item)) is not None:
        report.sections.append(("example web app log", log))
    return report
