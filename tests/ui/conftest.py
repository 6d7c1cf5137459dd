"""A store with one of every kind the viewer draws, the viewer serving it on loopback, and a real
Chromium (Debian's /usr/bin/chromium, driven by Playwright) to look at it."""

from __future__ import annotations

import os
import shutil

import pytest

from mediastore.ui import ViewerServer
from ui_store import SCREENSHOTS, build_store

CHROMIUM = os.environ.get("MEDIASTORE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def viewer_store(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("viewer") / "store")
    ids = build_store(root)
    return root, ids


@pytest.fixture(scope="session")
def viewer(viewer_store):
    server = ViewerServer(viewer_store[0], port=0)
    server.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (the dev extra)")
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, viewer, request):
    """A fresh page on the viewer; page errors fail the test, and a screenshot is saved after it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.base = viewer.url
    page.open = lambda hash_: _open(page, hash_)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"the page threw: {errors}"


def _open(page, hash_: str) -> None:
    page.goto(page.base + hash_)
    page.wait_for_selector("body[data-ready='1']")
