"""The package as a Django developer meets it: the built wheel, pip-installed into a fresh
virtualenv next to a new `django-admin startproject`, set up with the README's own
blocks, serving the WebSocket endpoint, the API, a widget page and the console script.

Offline: the wheel is built from a clean copy of the tree (no stale build/), and its
dependencies come from var/wheelhouse, which `make test` fills from the registry first."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import websockets

from tests.test_server import ROOT, free_port, stop, wait_for_port

README = (ROOT / "README.md").read_text()
# A new project's environment: nothing of this test suite's settings or paths.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}


def readme_block(title: str) -> str:
    match = re.search(rf"```python\n# {re.escape(title)}\n(.*?)```", README, re.S)
    assert match, f"README has no block starting with '# {title}'"
    return match.group(1)


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=CLEAN_ENV, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def subscribe_and_wait(port: int) -> tuple[dict, dict]:
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=30) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "subscribe", "city": "Berlin", "id": 1}))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "weather":
            pass
        return hello, frame


def test_the_wheel_in_a_fresh_virtualenv_and_a_new_project(tmp_path):
    wheelhouse = ROOT / "var" / "wheelhouse"
    assert (wheelhouse / ".done").exists(), "no var/wheelhouse: run `make test`"
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "build", "dist", "var", "test-artifacts", "*.egg-info",
            "__pycache__", ".*_cache", "bench", "tests",
        ),
    )  # fmt: skip
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        tmp_path / "dist",
        source,
    )
    wheel = next((tmp_path / "dist").glob("weatherstream-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "weatherstream/static/weatherstream/vendor/uPlot.esm.js",  # from npm, by `make install`
        "weatherstream/static/weatherstream/js/widget.js",
        "weatherstream/templates/weatherstream/widget.html",
        "weatherstream/migrations/0001_initial.py",
    ):
        assert needed in names, needed

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    bin_ = venv / "bin"
    run(bin_ / "pip", "install", "-q", "--no-index", "--find-links", wheelhouse, f"{wheel}[server]")
    run(bin_ / "django-admin", "startproject", "mysite", tmp_path)
    site = tmp_path / "mysite"
    with open(site / "settings.py", "a") as f:
        f.write("\n" + readme_block("settings.py: add"))
        # This test's own: nothing reaches the internet, updates every second.
        f.write(
            '\nWEATHERSTREAM = {"PROVIDER": "simulated", "POLL_INTERVAL": 1, "ONLINE_GEOCODING": False}\n'
        )
        f.write('TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]\n')
    with open(site / "urls.py", "a") as f:
        f.write("\n" + readme_block("urls.py: add"))
        f.write("from django.views.generic import TemplateView\n")
        f.write('urlpatterns += [path("widget/", TemplateView.as_view(template_name="widget_page.html"))]\n')
    with open(site / "asgi.py", "a") as f:
        f.write("\n" + readme_block("asgi.py: add at the end"))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "widget_page.html").write_text(
        '{% load weatherstream %}<p>Berlin: {% weather_widget "Berlin" %}</p>'
    )

    run(bin_ / "python", "manage.py", "check", "--fail-level", "WARNING", cwd=tmp_path)
    run(bin_ / "python", "manage.py", "migrate", "--noinput", cwd=tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [bin_ / "uvicorn", "mysite.asgi:application", "--port", str(port), "--lifespan", "on"],
        cwd=tmp_path, env=CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        hello, update = asyncio.run(subscribe_and_wait(port))
        api = httpx.get(f"http://127.0.0.1:{port}/weather/api/weather", params={"city": "Paris, FR"})
        page = httpx.get(f"http://127.0.0.1:{port}/widget/")
        url = f"ws://127.0.0.1:{port}/ws/weather/"
        once = subprocess.run(
            [bin_ / "weatherstream", "watch", "--once", "--url", url, "Oslo"],
            env=CLEAN_ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        stop(server)
    assert hello["type"] == "hello" and hello["provider"] == "simulated"
    assert update["weather"]["source"] == "simulated"
    assert api.status_code == 200 and api.json()["location"]["name"] == "Paris"
    assert page.status_code == 200 and "data-weatherstream-widget" in page.text and "widget.js" in page.text
    assert once.returncode == 0 and "Oslo" in once.stdout, once.stdout + once.stderr
