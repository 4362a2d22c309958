"""report.html opened in a real headless browser (Debian ``chromium``): tables and images render.

A copy of the page gets a probe script that, once the page has loaded, writes what the
browser rendered (table rows, each image's decoded size) into the DOM; ``--dump-dom``
returns it. A screenshot checks that pixels were painted.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from harness.report import report_files  # noqa: E402

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian chromium: apt-get install -y chromium")

PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "render-probe";
  out.textContent = JSON.stringify({
    tables: [...document.querySelectorAll("table")].map(t => ({
      rows: t.rows.length, width: t.getBoundingClientRect().width})),
    images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth,
      height: i.naturalHeight, shown: i.getBoundingClientRect().width}))});
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: CI containers run as root, where chromium's sandbox refuses to start
    flags = ["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([CHROMIUM or "chromium", *flags, *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def page(runs, store, registry, tmp_path) -> Path:
    return report_files(runs, store, tmp_path / "report", registry)["report.html"]


def test_browser_renders_the_tables_and_decodes_every_plot(page, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="render-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no probe output; chromium said:\n{result.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    matrix, summary, environment = seen["tables"]
    assert matrix["rows"] == 1 + 2  # header + the fake tutorial's two variants
    assert summary["rows"] == 1 + 2 and summary["width"] > 300  # header + the fake pair
    assert environment["rows"] > 5
    assert len(seen["images"]) == 1
    image = seen["images"][0]
    assert image["complete"] and image["width"] > 300 and image["height"] > 200
    assert image["shown"] > 300


def test_browser_screenshot_shows_painted_content(page, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    result = _chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), result.stderr[-2000:]
    pixels = imread(shot)[..., :3].reshape(-1, 3)
    colours = {tuple(p) for p in (pixels * 255).astype(int)[::37]}
    assert len(colours) > 50  # text, table stripes and the plot's lines, not a blank page


STYLE_PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "render-probe";
  const cell = css => document.querySelector(`table.summary td.${css}`);
  const colour = css => getComputedStyle(cell(css)).backgroundColor;
  const top = el => el.getBoundingClientRect().top;
  const heading = text => [...document.querySelectorAll("h2")]
    .find(h => h.textContent.includes(text));
  out.textContent = JSON.stringify({
    pass: colour("pass"), regression: colour("regression"), diverged: colour("diverged"),
    error: colour("error"),
    plain: getComputedStyle(cell("pass").parentElement.cells[0]).backgroundColor,
    failuresTop: top(heading("Failures")), summaryTop: top(heading("Summary")),
    image: document.images[0].getBoundingClientRect().width,
    body: document.body.getBoundingClientRect().width});
  document.body.appendChild(out);
});
</script>"""


def _rgb(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text)[:3])


def test_browser_colours_each_status_and_shows_failures_first(failing, tmp_path):
    runs, store, registry = failing
    page = report_files(runs, store, tmp_path / "report", registry)["report.html"]
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", STYLE_PROBE + "</body>"))
    result = _chromium(tmp_path, "--window-size=1400,1000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="render-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no probe output; chromium said:\n{result.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    red, green = _rgb(seen["regression"]), _rgb(seen["pass"])
    assert red[0] > red[1] + 20 and green[1] > green[0] + 20  # reddish, greenish
    assert _rgb(seen["diverged"]) == _rgb(seen["error"]) == red
    assert _rgb(seen["plain"]) not in (red, green)
    assert seen["failuresTop"] < seen["summaryTop"]
    assert seen["image"] >= 0.95 * seen["body"] - 40  # the plot spans the page (padding aside)
