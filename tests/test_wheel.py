"""The package as a Django developer meets it, following the README word for word.

A clean copy of the tree is built the standard way (`pip wheel .`, with build isolation)
and installed into a fresh virtualenv with the README's own install line; a new
`django-admin startproject` gets the README's four blocks; the README's commands migrate,
collect static files and serve it with the README's uvicorn command. Then: every asset the
weather page and a widget page name is fetched, both pages are opened in Chromium (two
widgets inside sentences, with their simulated marker; a city added on the page with its
chart), and the API, the operations URLs and the console script are tried.

Offline: pip takes everything from var/wheelhouse, which `make test` fills from the
registry first (setuptools and wheel included, for the isolated build)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
import websockets
from playwright.sync_api import expect, sync_playwright

from tests.test_page import CHROMIUM_ARGS
from tests.test_server import ROOT, free_port, stop, wait_for_port

README = (ROOT / "README.md").read_text()
WHEELHOUSE = ROOT / "var" / "wheelhouse"


def readme_block(language: str, first_line: str) -> str:
    """The README's fenced block in ``language`` whose first line starts with ``first_line``."""
    for match in re.finditer(rf"```{language}\n(.*?)```", README, re.S):
        if match.group(1).startswith(first_line):
            return match.group(1)
    raise AssertionError(f"README has no {language} block starting with {first_line!r}")


def readme_commands(first_word: str) -> list[str]:
    """The command lines of the README's sh block that starts with ``first_word``."""
    block = readme_block("sh", first_word)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A new user's machine: a virtualenv, PATH to it, pip offline from the wheelhouse."""
    assert (WHEELHOUSE / ".done").exists(), "no var/wheelhouse: run `make test`"
    home = tmp_path_factory.mktemp("user")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("PIP_")
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return home, env


def sh(line: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{line}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_checkout(dest: Path) -> Path:
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "build", "dist", "var", "test-artifacts", "*.egg-info",
            "__pycache__", ".*_cache", ".installed",
        ),
    )  # fmt: skip
    return dest


def test_a_standard_build_ships_every_asset_the_templates_name(tmp_path, user):
    _, env = user
    source = clean_checkout(tmp_path / "weatherstream")
    sh(f"pip wheel -q --no-deps -w {tmp_path / 'dist'} {source}", tmp_path, env)
    names = set(zipfile.ZipFile(next((tmp_path / "dist").glob("weatherstream-*.whl"))).namelist())
    static = sorted(n for n in names if n.startswith("weatherstream/static/"))
    assert "weatherstream/static/weatherstream/vendor/uPlot.esm.js" in static, static
    assert "weatherstream/static/weatherstream/vendor/uPlot.min.css" in static, static
    # Every file a template or a script names is in the wheel.
    package = ROOT / "src" / "weatherstream"
    named: set[str] = set()
    for template in (package / "templates").rglob("*.html"):
        named |= {
            f"weatherstream/static/{m}" for m in re.findall(r"{% static '([^']+)' %}", template.read_text())
        }
    for script in (package / "static").rglob("*.js"):
        if "vendor" in script.parts:
            continue
        for ref in re.findall(
            r"""(?:from|import\(new URL\()\s*["'](\.{1,2}/[^"']+)["']""", script.read_text()
        ):
            named.add(str((script.parent / ref).resolve().relative_to(package.parent)))
    assert named and named <= names, sorted(named - names)


async def subscribe_and_wait(port: int) -> tuple[dict, dict]:
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=30) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "subscribe", "city": "Berlin", "id": 1}))
        async with asyncio.timeout(20):
            while (frame := json.loads(await ws.recv()))["type"] != "weather":
                pass
        return hello, frame


async def handshake_status(port: int, path: str, origin: str = "") -> int:
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}{path}", origin=origin or f"http://127.0.0.1:{port}", open_timeout=10
        ):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def test_the_readme_in_a_new_project_with_the_readme_server_command(tmp_path, user):
    home, env = user
    clean_checkout(tmp_path / "weatherstream")
    (install,) = readme_commands('pip install "./weatherstream')
    sh(install, tmp_path, env)  # verbatim: from a checkout in ./weatherstream
    sh("django-admin startproject mysite", tmp_path, env)
    project = tmp_path / "mysite"
    site = project / "mysite"
    with open(site / "settings.py", "a") as f:
        f.write("\n" + readme_block("python", "# settings.py: add"))
        # This test's own: nothing reaches the internet, updates every second.
        f.write('\nWEATHERSTREAM = {"PROVIDER": "simulated", "POLL_INTERVAL": 1}\n')
        f.write('TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]\n')
    with open(site / "urls.py", "a") as f:
        f.write("\n" + readme_block("python", "# urls.py: add"))
        f.write("from django.views.generic import TemplateView\n")
        f.write('urlpatterns += [path("widgets/", TemplateView.as_view(template_name="widgets.html"))]\n')
    with open(site / "asgi.py", "a") as f:
        f.write("\n" + readme_block("python", "# asgi.py: add at the end"))
    (project / "templates").mkdir()
    (project / "templates" / "widgets.html").write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Offices</title>"
        '<link rel="icon" href="data:,"></head><body>\n'
        + readme_block("django", "{# any template of yours")
        + '<p>Paris, in °F: {% weather_widget "Paris, FR" units="F" %} and that is all.</p>\n</body></html>\n'
    )

    sh("python manage.py check --fail-level WARNING", project, env)
    migrate, collect, serve = readme_commands("python manage.py migrate")
    assert serve.startswith("uvicorn ") and "--ws-max-size" in serve, serve
    sh(migrate, project, env)
    sh(collect, project, env)
    port = free_port()
    server = subprocess.Popen(
        [*shlex.split(serve), "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, server)
        hello, update = asyncio.run(subscribe_and_wait(port))
        unknown_ws = asyncio.run(handshake_status(port, "/ws/nowhere/"))
        foreign = asyncio.run(handshake_status(port, "/ws/weather/", origin="http://evil.example"))
        with httpx.Client(base_url=base, timeout=30) as http:
            api = http.get("/weather/api/weather", params={"city": "Paris, FR"})
            posted = http.post("/weather/api/weather", data={"city": "Paris"})
            operations = [http.get(f"/weather/{p}").status_code for p in ("metrics", "healthz", "readyz")]
        browsed = browse(base)
        once = subprocess.run(
            ["weatherstream", "watch", "--once", "--url", f"ws://127.0.0.1:{port}/ws/weather/", "Oslo"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        stop(server)
    log = server.stdout.read() if server.stdout else ""
    assert hello["type"] == "hello" and hello["provider"] == "simulated"
    assert update["weather"]["source"] == "simulated"
    assert api.status_code == 200 and api.json()["location"]["name"] == "Paris"
    # A POST is the documented JSON 405, not Django's HTML CSRF page.
    assert posted.status_code == 405 and posted.json()["error"]["code"] == "method_not_allowed"
    # The operations endpoints are not published by include("weatherstream.urls").
    assert operations == [404, 404, 404]
    assert unknown_ws == 404
    assert foreign == 403  # the README's asgi block refuses other sites' pages
    assert browsed["failed"] == [], browsed["failed"]
    assert browsed["errors"] == [], browsed["errors"]
    for asset in (
        "js/widget.js",
        "css/widget.css",
        "js/app.js",
        "css/app.css",
        "vendor/uPlot.min.css",
        "vendor/uPlot.esm.js",
    ):
        assert any(u.endswith(f"/static/weatherstream/{asset}") for u in browsed["fetched"]), (asset, browsed)
    assert browsed["widget_assets"] == (1, 1)  # one stylesheet and one script for two widgets
    assert browsed["sockets"] == 1
    berlin, paris = browsed["widgets"]
    assert re.fullmatch(r"-?\d+\.\d °C", berlin["temp"]) and "simulated" in berlin["marker"], berlin
    assert re.fullmatch(r"-?\d+\.\d °F", paris["temp"]) and "simulated" in paris["marker"], paris
    assert berlin["inParagraph"] and paris["inParagraph"]
    assert browsed["chart"] is True
    assert browsed["forecast"] is True
    assert once.returncode == 0 and "Oslo" in once.stdout, once.stdout + once.stderr
    assert "Traceback" not in log, log

    # A personal weather station, as the README's asgi block and stations paragraph say:
    # the HTTP application wrapped in station_uploads (from weatherstream.routing).
    assert '"http": station_uploads(application)' in README and "weatherstream.routing" in README
    asgi = (site / "asgi.py").read_text()
    assert asgi.count('    "http": application,\n') == 1
    asgi = asgi.replace('    "http": application,\n', '    "http": station_uploads(application),\n')
    asgi = asgi.replace(
        "application = ProtocolTypeRouter(",
        "from weatherstream.routing import station_uploads\n\napplication = ProtocolTypeRouter(",
    )
    (site / "asgi.py").write_text(asgi)
    add = 'python manage.py weatherstream_station add "Garden" --lat 52.52 --lon 13.40 --json'
    station = json.loads(sh(add, project, env))
    # "keep uvicorn's access log off (... add `--no-access-log` to the uvicorn command above)"
    assert "add `--no-access-log` to the uvicorn command above" in README
    server = subprocess.Popen(
        [*shlex.split(serve), "--no-access-log", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, server)
        uploaded = asyncio.run(upload_and_receive(port, station))
    finally:
        stop(server)
    log = server.stdout.read() if server.stdout else ""
    (subscribed, wrong, answer, frame) = uploaded
    assert subscribed["type"] == "subscribed"
    assert wrong.status_code == 401
    assert wrong.text == "INVALIDPASSWORDID|Password or key and/or id are incorrect\n"
    assert (answer.status_code, answer.text) == (200, "success\n")
    assert frame["location"] == station["id"] and frame["weather"]["source"] == f"station:{station['id']}"
    assert frame["weather"]["temperature"] == 21.11  # 70 °F, the protocol's example
    assert "Traceback" not in log and station["key"] not in log, log


async def upload_and_receive(port: int, station: dict) -> tuple:
    """Subscribe to the station, upload the Weather Underground protocol's example reading
    with a wrong key and then its own, and wait for the frame."""
    from tests.test_uploads import load_upload

    params = {**load_upload("wunderground_protocol_example.query"), "ID": station["id"], "dateutc": "now"}
    uri = f"ws://127.0.0.1:{port}/ws/weather/"
    async with (
        websockets.connect(uri, origin=f"http://127.0.0.1:{port}", open_timeout=30) as ws,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "station": station["id"], "id": 1}))
        async with asyncio.timeout(20):
            while (subscribed := json.loads(await ws.recv()))["type"] != "subscribed":
                pass
        path = "/weatherstation/updateweatherstation.php"
        wrong = await http.get(path, params={**params, "PASSWORD": "x" * 20})
        answer = await http.get(path, params={**params, "PASSWORD": station["key"]})
        async with asyncio.timeout(20):
            while (frame := json.loads(await ws.recv()))["type"] != "weather":
                pass
        return subscribed, wrong, answer, frame


def browse(base: str) -> dict:
    """The widget page and the weather page in Chromium, with every request watched."""
    out: dict = {"fetched": [], "failed": [], "errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.on(  # 304: the browser's cached copy of an earlier 200
            "response",
            lambda r: (
                out["fetched"].append(r.url) if r.status < 400 else out["failed"].append((r.url, r.status))
            ),
        )
        page.on("requestfailed", lambda r: out["failed"].append((r.url, r.failure)))
        page.on(
            "console",
            lambda m: (
                out["errors"].append((m.text, m.location.get("url")))
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda exc: out["errors"].append(str(exc)))
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))

        page.goto(f"{base}/widgets/")
        widgets = page.locator("[data-weatherstream-widget]")
        expect(widgets).to_have_count(2)
        for i in range(2):
            expect(widgets.nth(i).locator(".weatherstream-widget__temp")).to_have_text(
                re.compile(r"\d"), timeout=20_000
            )
            expect(widgets.nth(i).locator(".weatherstream-widget__marker")).to_be_visible()
        out["widgets"] = [
            {
                "temp": widgets.nth(i).locator(".weatherstream-widget__temp").inner_text(),
                "marker": widgets.nth(i).locator(".weatherstream-widget__marker").inner_text(),
                "inParagraph": widgets.nth(i).evaluate("el => el.parentElement.tagName === 'P'"),
            }
            for i in range(2)
        ]
        out["widget_assets"] = (
            page.locator("link[href$='widget.css']").count(),
            page.locator("script[src$='widget.js']").count(),
        )
        out["sockets"] = len(sockets)

        page.goto(f"{base}/weather/")
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
        page.locator("#city").fill("Berlin")
        page.locator("#city").press("Enter")
        expect(page.locator(".card .card__chart .uplot")).to_have_count(1, timeout=20_000)
        out["chart"] = page.locator(".card .card__chart .uplot").is_visible()
        # The forecast's strip and list (forecast.js, served like the rest)
        expect(page.locator(".card .forecast-hourly .uplot")).to_have_count(1, timeout=20_000)
        expect(page.locator(".card .forecast-daily li")).to_have_count(7)
        out["forecast"] = page.locator(".card .forecast-hourly .uplot").is_visible()
        context.close()
        browser.close()
    return out
