"""Take the README's screenshots of a running server: python docs/screenshots.py [URL].

Needs `pip install playwright` and Debian's chromium (/usr/bin/chromium); start the
server first, e.g. `WEATHERSTREAM_PROVIDER=simulated WEATHERSTREAM_POLL_INTERVAL=1 make run`.
"""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/"
OUT = Path(__file__).parent
CITIES = ["Berlin", "Tokyo", "São Paulo", "Reykjavik"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    for name, viewport in [
        ("desktop", {"width": 1280, "height": 800}),
        ("phone", {"width": 360, "height": 780}),
    ]:
        page = browser.new_page(viewport=viewport)
        page.add_init_script(
            f"localStorage.setItem('weatherstream.cities', {json.dumps(json.dumps(CITIES))})"
        )
        page.goto(URL)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function(f"document.querySelectorAll('.card').length >= {len(CITIES)}")
        page.wait_for_timeout(2500)
        page.screenshot(path=OUT / f"screenshot-{name}.png", full_page=name == "phone")
        page.close()
    browser.close()
