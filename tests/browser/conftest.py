"""Browser tests: Debian's Chromium driven by Playwright against a live server.

Every flow runs twice, on a desktop and a phone viewport (the ``viewport`` fixture's params).
The tests carry the ``browser`` marker, which the plain suite deselects (pyproject's addopts);
``make test-e2e`` runs them. Each test leaves a screenshot of its end state in SCREENSHOTS.

Adding a flow: one ``test_<flow>.py`` here, marked ``pytestmark = [pytest.mark.browser,
pytest.mark.django_db(transaction=True)]``, with tests taking ``site`` (pytest-django's
in-process live server: pages, htmx, uploads) or ``worker_site`` (gunicorn and a real Celery
worker, for anything that runs a job). Both give the page at the current viewport, fail the
test on any JavaScript error and take the screenshot; ``site.login_as(user)`` signs in
through the login form.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", ROOT / "var" / "e2e-screenshots"))
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def pytest_terminal_summary(terminalreporter) -> None:
    if Site.cleared:  # this run took screenshots
        count = len(list(SCREENSHOTS.glob("*.png")))
        terminalreporter.write_line(f"Browser screenshots ({count}): {SCREENSHOTS}")


@pytest.fixture(scope="session", autouse=True)
def _async_unsafe_ok() -> None:
    # Playwright's sync API keeps an event loop running in this thread; Django's guard against
    # ORM calls from async code would then refuse the live server's database setup.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Chromium is not installed: `make test-e2e` installs it (apt-get install chromium)"
        )
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "args": [*browser_type_launch_args.get("args", []), "--disable-gpu", "--disable-quic"],
    }


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def browser_context_args(browser_context_args: dict, viewport: str) -> dict:
    return {
        **browser_context_args,
        "viewport": VIEWPORTS[viewport],
        "permissions": ["clipboard-read", "clipboard-write"],
        "has_touch": viewport == "phone",
    }


@pytest.fixture
def site(live_server, page: Page, request: pytest.FixtureRequest) -> Iterator[Site]:
    """The live server seen through the page; takes the end-state screenshot afterwards."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    site = Site(live_server.url, page, errors)
    yield site
    site.screenshot(request.node.name)
    assert not errors, f"JavaScript errors in the page: {errors}"


class Site:
    def __init__(self, url: str, page: Page, errors: list[str]) -> None:
        self.url = url
        self.page = page
        self.errors = errors

    def go(self, path: str) -> Page:
        self.page.goto(self.url + path)
        return self.page

    def login_as(self, user) -> None:
        """Sign ``user`` in through the login page (with a password set for the purpose)."""
        password = f"{user.username}-browser-password"
        user.set_password(password)
        user.save(update_fields=["password"])
        self.login(user.username, password)

    def login(self, username: str, password: str) -> None:
        self.go("/accounts/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.locator("main button[type=submit], main input[type=submit]").first.click()
        self.page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))

    cleared = False  # the folder holds this run's screenshots only (cleared at the first one)

    def screenshot(self, name: str) -> Path:
        if not Site.cleared:
            shutil.rmtree(SCREENSHOTS, ignore_errors=True)
            Site.cleared = True
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "-", name).strip("-") + ".png")
        self.page.screenshot(path=str(path), full_page=False)
        return path


MakeImages = Callable[..., list]


@pytest.fixture
def make_images(make_image) -> MakeImages:
    """``count`` gallery images with distinct prompts and shapes (newest last)."""

    def make(count: int, *, prefix: str = "a painting of lighthouse", **kwargs) -> list:
        shapes = [(64, 64), (64, 96), (96, 64)]
        images = []
        for n in range(count):
            width, height = shapes[n % 3]
            images.append(
                make_image(prompt=f"{prefix} number {n}", width=width, height=height, **kwargs)
            )
        return images

    return make


@pytest.fixture(scope="session")
def _worker_stack(django_db_setup, django_db_blocker, tiny_model_dir, tmp_path_factory):
    """gunicorn + one real Celery worker on the test database, shared by the whole session.

    Starting both costs ~10 s of imports, so the job tests share one pair; each test's
    transactional database is flushed under them, which they do not mind.
    """
    from tests.generation.test_worker_e2e import Stack

    tmp = tmp_path_factory.mktemp("stack")
    with django_db_blocker.unblock():
        stack = Stack(
            tmp, f"sqla+sqlite:///{tmp / 'broker.sqlite3'}", tiny_model_dir, tmp / "media"
        )
    stack.start_web()
    stack.start_worker()
    yield stack
    stack.stop_all()


@pytest.fixture
def worker_site(_worker_stack, transactional_db, settings, page: Page, request):
    """Like ``site``, but against the gunicorn + worker stack (jobs really run)."""
    from django.conf import global_settings

    # Images the test makes go where the stack's web process serves them from, and passwords
    # are hashed the way it checks them.
    settings.MEDIA_ROOT = _worker_stack.env["MEDIA_ROOT"]
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    site = Site(_worker_stack.url, page, errors)
    site.stack = _worker_stack
    yield site
    site.screenshot(request.node.name)
    assert not errors, f"JavaScript errors in the page: {errors}"
