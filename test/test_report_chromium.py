"""The HTML report renders in headless Chromium with every embedded plot decoded."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from vjepa2_ros.evaluation.cli import main

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))

# Appended to a copy of the report: after load, write how many images decoded into the DOM.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.insertAdjacentHTML('beforeend',
    `<div id="probe">loaded=${ok} total=${imgs.length}</div>`);
});
</script>"""


@pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt install chromium)"
)
def test_report_renders_with_every_image_loaded(tmp_path, capsys):
    from test_eval import write_reach_bag

    write_reach_bag(tmp_path / "run")
    assert main([str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
    page = tmp_path / "probe.html"
    html = (tmp_path / "report" / "report.html").read_text()
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"loaded=(\d+) total=(\d+)", result.stdout)
    assert found, result.stderr[-2000:]
    assert found.group(1) == found.group(2) == "4"
