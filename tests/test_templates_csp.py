"""Every template of the package (and of the example project and the quickstart) works under a strict Content Security Policy: no inline
``style=`` attributes or ``<style>`` blocks, no inline scripts or ``on…=`` handlers
(``<script src>`` and JSON data blocks are fine). The browser test
(tests/jobs_table/test_browser_csp.py) shows the table itself under such a policy."""

import re
from pathlib import Path

import tethys_compute

ROOT = Path(__file__).resolve().parents[1]
#: The package's templates, the example project's and the quickstart's.
TEMPLATES = [Path(tethys_compute.__file__).parent / "templates", ROOT / "example" / "templates",
             ROOT / "docs" / "quickstart"]
INLINE = [
    (re.compile(r"\sstyle\s*="), "style= attribute"),
    (re.compile(r"<style[\s>]", re.I), "<style> block"),
    (re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
     "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "on… event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_styles_or_scripts():
    files = sorted(path for folder in TEMPLATES for path in folder.rglob("*.html"))
    assert len(files) >= 15
    found = [f"{path.relative_to(ROOT)}: {what}"
             for path in files for pattern, what in INLINE
             if pattern.search(path.read_text())]
    assert found == []
