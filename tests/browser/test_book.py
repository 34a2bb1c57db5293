"""The executed book opened from disk in headless Chromium with every outside request blocked:
each figure drawn, no raw LaTeX left, each widget shown as a picture with its note, nothing fetched.

The book is built once per session in fast mode (`tools/build_book.py --fast`, about 2-3 minutes on
2 cores) into build/book-browser/, or taken from $CONTRASTLAB_BOOK_DIR when that names a built book.
Screenshots of each page land in build/screenshots/book_<notebook>.png.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, SCREENSHOTS

pytestmark = pytest.mark.browser

NOTEBOOK_NAMES = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RAW_INLINE_TEX = re.compile(r"\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$")  # e.g. "$\tau$" left for a renderer


@pytest.fixture(scope="session")
def book() -> Path:
    given = os.environ.get("CONTRASTLAB_BOOK_DIR")
    if given:
        folder = Path(given)
        assert (folder / "book.json").exists(), f"CONTRASTLAB_BOOK_DIR={given} holds no built book (book.json)"
        return folder
    folder = REPO_ROOT / "build" / "book-browser"
    run = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "build_book.py"), "--out", str(folder), "--fast"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, f"make book failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return folder


@pytest.fixture
def offline_page(browser_context):
    """A tab that may read files only: every other request is aborted and recorded."""
    page = browser_context.new_page()
    page.outside_requests, page.errors = [], []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "about:", "blob:")):
            r.continue_()
        else:
            page.outside_requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.close()


def _summary(book: Path) -> dict[str, dict]:
    return {row["notebook"]: row for row in json.loads((book / "book.json").read_text())}


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_a_book_page_shows_its_figures_math_and_widgets_offline(book, offline_page, name):
    row = _summary(book)[name]
    assert not row["failed"], f"{name} failed in the book build"
    page = offline_page
    page.goto((book / f"{name}.html").as_uri())
    page.wait_for_load_state("load")
    figures = page.locator(".contrastlab-figure")
    expected = row["figures"]  # plotly outputs; widget pictures add their own figures
    assert figures.count() >= expected
    page.wait_for_function("n => document.querySelectorAll('.contrastlab-figure .main-svg').length >= n",
                           arg=figures.count(), timeout=30_000)
    drawn = page.evaluate("() => [...document.querySelectorAll('.contrastlab-figure')]"
                          ".map(d => d.querySelector('.main-svg') !== null)")
    assert all(drawn), f"{drawn.count(False)} of {len(drawn)} figures not drawn"
    widgets = page.locator(".contrastlab-widget")
    assert widgets.count() == row["widgets"]
    for i in range(widgets.count()):
        assert "Live widget" in widgets.nth(i).inner_text()
    markdown = "\n".join(page.locator(".jp-RenderedMarkdown").all_inner_texts())
    assert "$$" not in markdown and "\\(" not in markdown and "\\[" not in markdown
    assert not RAW_INLINE_TEX.search(markdown), RAW_INLINE_TEX.search(markdown).group(0)
    assert page.locator("math").count() == row["math"]
    assert page.outside_requests == [], f"requests that would leave the machine: {page.outside_requests}"
    assert page.errors == [], page.errors
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"book_{name}.png"))


def test_the_index_is_a_table_of_contents_with_thumbnails(book, offline_page):
    page = offline_page
    page.goto((book / "index.html").as_uri())
    lessons = page.locator("section.lesson")
    assert lessons.count() == len(NOTEBOOK_NAMES)
    with_figures = sum(1 for row in _summary(book).values() if row["figures"])
    page.wait_for_function("n => document.querySelectorAll('.thumb .main-svg').length >= n",
                           arg=with_figures, timeout=30_000)
    text = page.inner_text("body")
    assert text.count("s to run") == len(NOTEBOOK_NAMES) and "Verdict" in text
    assert "xmlns" not in text and "$" not in text, "a learning goal shows raw MathML or LaTeX"
    assert page.locator(".lesson math").count() > 0
    assert page.outside_requests == [] and page.errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "book_index.png"), full_page=True)
