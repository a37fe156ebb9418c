"""The browser measurement itself (tests/browser.py) finds what sticks out, and only that:
a small page with one too-wide item of each kind and the same items made to fit."""

import pytest

from tests import browser

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; }} .md-content__inner {{ width: 300px; margin: 0 20px; }}
pre > code {{ display: block; overflow: auto; }}
.md-typeset__scrollwrap {{ overflow-x: auto; }}
</style></head><body><div class="md-content__inner md-typeset">
{body}
</div></body></html>"""

WIDE = """
<pre><code>{long}</code></pre>
<div class="md-typeset__scrollwrap"><table><tr><td>{long}</td></tr></table></div>
<img src="wide.svg" width="500" height="20">
<audio controls style="width: 600px"></audio>
"""
NARROW = """
<pre><code>short = 1</code></pre>
<div class="md-typeset__scrollwrap"><table><tr><td>a few words that wrap as they must</td></tr></table></div>
<img src="wide.svg" style="max-width: 100%; height: auto" width="500" height="20">
<audio controls style="width: 100%"></audio>
"""
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="500" height="20"><rect width="500" height="20"/></svg>'


@pytest.fixture(scope="module")
def chromium():
    executable = browser.find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the browser check needs it")
    return executable


def test_the_measurement_finds_each_kind_and_nothing_that_fits(tmp_path, chromium):
    for name, body in (("wide", WIDE.format(long="x" * 200)), ("narrow", NARROW)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(PAGE.format(body=body))
        (tmp_path / name / "wide.svg").write_text(SVG)
    found = browser.overflows(tmp_path, widths=(1280,), executable=chromium)
    assert sorted(item["kind"] for item in found[("wide/", 1280)]) == ["audio", "code", "figure", "table"]
    assert ("narrow/", 1280) not in found
