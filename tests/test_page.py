"""The page in a real browser: Playwright driving Debian's Chromium against the real
server (uvicorn as `make run` starts it, simulated provider, one-second interval).

Screenshots at desktop and phone width go to test-artifacts/ (kept out of git).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from scripts.engines import CHROMIUM
from tests.test_server import EXAMPLE, ROOT, Server
from tests.upstream import FORECAST, FakeOpenMeteo
from weatherstream.providers.openmeteo import RUN_MARGIN

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "Debian's chromium is not installed: run `make test`"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Console errors a test may cause on purpose (the server stopped under the page), and the
# example site's missing favicon.
EXPECTED_CONSOLE_ERRORS = re.compile(r"WebSocket connection to .* failed|net::ERR_CONNECTION_REFUSED")


def watch_errors(page: Page) -> list[str]:
    """What went wrong in the page: uncaught exceptions, console errors (a module that did
    not load, a 404) and scripts or stylesheets not served. Empty when all is well."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def console(message) -> None:
        url = message.location.get("url", "")
        if url.endswith("/favicon.ico") or EXPECTED_CONSOLE_ERRORS.search(message.text):
            return
        if message.type == "error":
            errors.append(f"console: {message.text} ({url})")

    def response(response) -> None:
        if response.status >= 400 and response.request.resource_type in ("script", "stylesheet"):
            errors.append(f"{response.status}: {response.url}")

    def failed(request) -> None:
        if request.resource_type in ("script", "stylesheet"):
            errors.append(f"failed: {request.url} {request.failure}")

    page.on("console", console)
    page.on("response", response)
    page.on("requestfailed", failed)
    return errors


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url)
    try:
        expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
    except AssertionError as exc:  # a module that did not load says so here
        raise AssertionError(f"the page did not start: {errors}") from exc
    yield page
    context.close()
    assert not errors, errors


def card(page: Page, name: str):
    return page.locator(".card", has=page.locator(".card__name", has_text=re.compile(f"^{name}$")))


def temperatures(page: Page, name: str, count: int, timeout: float = 25_000) -> list[str]:
    """Wait until the card's temperature took ``count`` distinct values; return them."""
    seen: list[str] = []
    deadline = timeout
    while len(seen) < count and deadline > 0:
        value = card(page, name).get_attribute("data-temperature", timeout=5_000)
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
        page.wait_for_timeout(250)
        deadline -= 250
    return seen


def add_city(page: Page, text: str) -> None:
    page.locator("#city").fill(text)
    page.locator("#city").press("Enter")


def test_two_cities_added_by_search_fill_in_and_change(page):
    box = page.locator("#city")
    box.press_sequentially("Berl", delay=40)  # autocompletion, driven by the keyboard
    options = page.locator("#city-suggestions [role=option]")
    expect(options.first).to_be_visible(timeout=5_000)
    expect(options.first).to_contain_text("Berlin")
    expect(options.first).to_contain_text("Germany")  # region and country tell places apart
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    add_city(page, "Paris, FR")
    expect(page.locator(".card")).to_have_count(2, timeout=10_000)
    for name in ("Berlin", "Paris"):
        expect(card(page, name).locator(".card__temp-value")).not_to_have_text("–", timeout=10_000)
        expect(card(page, name).locator(".card__source")).to_have_text("via simulated")
        assert len(temperatures(page, name, 3)) >= 3, f"{name} did not change twice"
    expect(page.locator("#simulated-banner")).to_be_visible()
    expect(card(page, "Berlin").locator(".card__icon")).to_have_attribute("aria-label", re.compile(".+"))
    expect(card(page, "Berlin").locator(".card__chart canvas")).to_have_count(1, timeout=10_000)


def test_remove_reload_and_units(page):
    add_city(page, "Madrid")
    add_city(page, "Oslo")
    expect(page.locator(".card")).to_have_count(2, timeout=10_000)
    card(page, "Madrid").locator(".card__remove").click()
    expect(page.locator(".card")).to_have_count(1)
    page.reload()
    expect(page.locator(".card")).to_have_count(1, timeout=10_000)
    oslo = card(page, "Oslo")
    expect(oslo.locator(".card__temp-value")).not_to_have_text("–", timeout=10_000)

    page.locator("#unit-temperature").select_option("F")
    page.locator("#unit-speed").select_option("mph")
    shown = oslo.locator(".card__temp-value").inner_text()
    celsius = float(oslo.get_attribute("data-temperature"))
    # The page shows what it was sent, converted; the reading may move on meanwhile.
    assert abs(float(shown.replace("−", "-")) - (celsius * 9 / 5 + 32)) <= 0.6, (shown, celsius)
    expect(oslo.locator(".card__temp-unit")).to_have_text("°F")
    expect(oslo.locator(".wind")).to_contain_text("mph")
    page.reload()  # units are remembered
    expect(page.locator("#unit-temperature")).to_have_value("F")
    expect(card(page, "Oslo").locator(".card__temp-unit")).to_have_text("°F", timeout=10_000)


def test_a_server_restart_shows_reconnecting_then_live_without_duplicates(page, server):
    add_city(page, "Rome")
    add_city(page, "Vienna")
    expect(page.locator(".card")).to_have_count(2, timeout=10_000)
    label = page.locator(".connection__label")
    expect(label).to_have_text("Live")
    server.stop()
    expect(label).to_contain_text("Reconnecting in", timeout=10_000)
    server.start()
    expect(label).to_have_text("Live", timeout=40_000)
    expect(page.locator(".card")).to_have_count(2)
    assert len(temperatures(page, "Rome", 2)) >= 2, "no live updates after the restart"


def test_an_unknown_city_is_told_at_the_search_box(page):
    add_city(page, "Xyzzyville Qqq")
    expect(page.locator("#search-error")).to_contain_text("Xyzzyville", timeout=10_000)
    expect(page.locator(".card")).to_have_count(0)


def test_a_typo_is_answered_with_suggestions_that_add_the_place(page):
    error = page.locator("#search-error")
    meant = error.get_by_role("button")
    add_city(page, "Pariss")
    expect(error).to_contain_text("No city called “Pariss”. Did you mean:", timeout=10_000)
    expect(meant).to_have_text(["Paris, France", "Paris, Texas"])
    expect(page.locator("#city")).to_have_attribute("aria-invalid", "true")
    meant.nth(1).focus()  # by the keyboard; "Paris" alone would be the one in France
    page.keyboard.press("Enter")
    expect(card(page, "Paris").locator(".card__region")).to_have_text("Texas", timeout=10_000)
    expect(error).to_be_empty()
    expect(page.locator("#city")).to_be_focused()
    add_city(page, "Berln")
    expect(meant.first).to_have_text("Berlin, Germany", timeout=10_000)
    meant.first.click()  # by the mouse
    expect(card(page, "Berlin")).to_have_count(1, timeout=10_000)
    expect(page.locator(".card")).to_have_count(2)
    expect(page.locator("#city")).to_have_value("")


# The politeness of the live region an element is in (its own or an ancestor's), or null.
LIVE_REGION = """
el => {
  const implied = { alert: "assertive", status: "polite", log: "polite" };
  for (let e = el; e; e = e.parentElement) {
    const live = e.getAttribute("aria-live") || implied[e.getAttribute("role")];
    if (live) return live === "off" ? null : live;
  }
  return null;
}
"""


def test_each_card_says_how_many_watch_its_place(page, browser, server):
    """“N watching”: from `subscribed` at once, then from the server's `watchers` frames,
    sent at most every WATCHERS_EVERY (the test server's default, 5 s): each change within
    10 s."""
    add_city(page, "Helsinki")
    watching = card(page, "Helsinki").locator(".card__watchers")
    expect(watching).to_have_text("1 watching", timeout=10_000)
    expect(watching).to_be_visible()
    # Quiet: in no live region, so a screen reader does not announce every change.
    assert watching.evaluate(LIVE_REGION) is None

    other = browser.new_context()
    second = other.new_page()
    errors = watch_errors(second)
    second.goto(server.url)
    expect(second.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
    add_city(second, "Helsinki")
    expect(card(second, "Helsinki").locator(".card__watchers")).to_have_text("2 watching", timeout=10_000)
    expect(watching).to_have_text("2 watching", timeout=10_000)
    assert not errors, errors
    other.close()
    expect(watching).to_have_text("1 watching", timeout=10_000)


def test_screenshots_at_desktop_and_phone_width(browser, server):
    ARTIFACTS.mkdir(exist_ok=True)
    cities = '["Berlin", "Tokyo", "São Paulo", "Reykjavik"]'
    for name, viewport in [
        ("desktop", {"width": 1280, "height": 800}),
        ("phone", {"width": 360, "height": 780}),
    ]:
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        errors = watch_errors(page)
        page.add_init_script(f"localStorage.setItem('weatherstream.cities', {cities!r})")
        page.goto(server.url)
        expect(page.locator(".card")).to_have_count(4, timeout=20_000)
        expect(page.locator(".card__chart canvas")).to_have_count(4, timeout=20_000)
        page.wait_for_timeout(2500)
        # Nothing wider than the screen at 360 px.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, width)
        path = ARTIFACTS / f"screenshot-{name}.png"
        page.screenshot(path=path, full_page=name == "phone")
        assert path.stat().st_size > 10_000
        assert not errors, errors
        context.close()


@contextlib.contextmanager
def open_meteo_server(tmp_path, **env: str):
    """The product's server on the loopback Open-Meteo (tests/upstream.py)."""
    upstream = FakeOpenMeteo().start()
    server = Server(
        tmp_path,
        WEATHERSTREAM_PROVIDER="open-meteo",
        OPEN_METEO_URL=upstream.url,
        WEATHERSTREAM_ONLINE_GEOCODING="false",
        **env,
    )
    server.start()
    try:
        yield server, upstream
    finally:
        server.stop()
        upstream.stop()


@pytest.fixture
def failing_upstream_server(tmp_path):
    with open_meteo_server(tmp_path, WEATHERSTREAM_BREAKER_FAILURES="1000") as both:
        yield both


def test_an_upstream_outage_shows_stale_cards_then_recovers(browser, failing_upstream_server):
    server, upstream = failing_upstream_server
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url)
    add_city(page, "Berlin")
    berlin = card(page, "Berlin")
    expect(berlin.locator(".card__source")).to_have_text("via open-meteo", timeout=10_000)
    expect(page.locator("#simulated-banner")).to_be_hidden()
    upstream.failing = True
    expect(berlin).to_have_class(re.compile(r"\bstale\b"), timeout=15_000)
    expect(berlin.locator(".badge--stale")).to_contain_text(re.compile(r"stale · \d+ s old"))
    expect(page.locator("#outage-banner")).to_be_visible()
    upstream.failing = False
    expect(berlin).not_to_have_class(re.compile(r"\bstale\b"), timeout=20_000)
    expect(page.locator("#outage-banner")).to_be_hidden()
    assert not errors, errors
    context.close()


def test_widgets_on_a_site_page_share_one_websocket(browser, server):
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(server.url + "widgets/")
    widgets = page.locator("[data-weatherstream-widget]")
    expect(widgets).to_have_count(5)
    for i in range(5):
        expect(widgets.nth(i).locator(".weatherstream-widget__temp")).to_have_text(
            re.compile(r"^-?\d+\.\d °C$"), timeout=10_000
        )
    expect(widgets.nth(0)).to_have_attribute("data-state", "live")
    for i in range(5):  # simulated weather is never shown as real
        expect(widgets.nth(i).locator(".weatherstream-widget__marker")).to_have_text("simulated")
    # Only the widget that asked for it shows the next hours, marked simulated too.
    hours = widgets.nth(4).locator(".weatherstream-widget__hour")
    expect(hours).to_have_count(6, timeout=10_000)
    expect(hours.first.locator(".weatherstream-widget__hour-temp")).to_have_text(re.compile(r"^-?\d+°$"))
    expect(widgets.nth(4).locator(".weatherstream-widget__hours-marker")).to_have_text("simulated")
    expect(widgets.nth(0).locator(".weatherstream-widget__hours")).to_be_hidden()
    assert page.locator("script[src$='widget.js']").count() == 1
    assert page.locator("link[href$='widget.css']").count() == 1
    expect(widgets.nth(1).locator(".weatherstream-widget__name")).to_have_text("Paris")
    first = widgets.nth(0).get_attribute("data-temperature")
    page.wait_for_function(  # and they stay live
        "t => document.querySelector('[data-weatherstream-widget]').dataset.temperature !== t",
        arg=first,
        timeout=20_000,
    )
    assert len(sockets) == 1, sockets
    assert not errors, errors
    context.close()


CONTRAST = """
(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = null; continue; }
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
}
"""
TEXT = [
    ".brand", ".search__label", "#city", ".card__name", ".card__country", ".card__region",
    ".card__temp-value", ".card__summary", ".detail dt", ".detail dd", ".card__meta",
    ".card__watchers", ".card__source", ".connection__label", "#simulated-banner", ".site-footer p",
    ".forecast__title", ".forecast__summary", ".forecast-day__name", ".forecast-day__max",
    ".forecast-day__min", ".forecast__source",
]  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa_and_the_page_works_by_keyboard(browser, server, scheme):
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    errors = watch_errors(page)
    page.add_init_script('localStorage.setItem("weatherstream.cities", JSON.stringify(["Berlin", "Oslo"]))')
    page.goto(server.url)
    expect(page.locator(".card")).to_have_count(2, timeout=10_000)
    expect(card(page, "Berlin").locator(".card__temp-value")).not_to_have_text("–", timeout=10_000)
    expect(card(page, "Berlin").locator(".forecast-daily li")).not_to_have_count(0, timeout=10_000)
    ratios = page.evaluate(CONTRAST, TEXT)
    low = {sel: round(r, 2) for sel, r in ratios.items() if r is None or r < 4.5}
    assert not low, f"{scheme}: below 4.5:1 (or missing): {low}"
    # Keyboard only: tab to Berlin's remove button and press Enter.
    page.locator("#city").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Remove Berlin":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".card")).to_have_count(1)
    assert not errors, errors
    context.close()


CHART_PROBE = """
async ([series, zone]) => {
  const { HistoryChart } = await import("/static/weatherstream/js/chart.js");
  const el = document.createElement("div");
  el.style.width = "600px";
  document.body.append(el);
  const chart = new HistoryChart(el, "Probe");
  const now = Math.floor(Date.now() / 1000);
  await chart.draw({ ...series, times: series.times.map((ago) => now - ago) }, "°C", zone);
  const u = el.uplot;
  return { min: u.scales.x.min, max: u.scales.x.max, splits: u.axes[0]._splits, values: u.axes[0]._values,
           simulated: u.root.dataset.simulated, label: u.root.getAttribute("aria-label") };
}
"""


def hour_labels(probe: dict) -> list[tuple[int, str]]:
    return [
        (split, label.split("\n")[0])
        for split, label in zip(probe["splits"], probe["values"])
        if re.fullmatch(r"\d{1,2}(am|pm)", label.split("\n")[0])
    ]


def test_the_chart_of_a_single_reading_spans_the_last_day_in_the_places_time(page):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    one = {"times": [600], "real": [5.0], "simulated": [None], "anyReal": True}
    probe = page.evaluate(CHART_PROBE, [one, "Asia/Tokyo"])
    assert probe["max"] - probe["min"] == pytest.approx(86400, abs=1), probe  # not years around it
    assert not [v for v in probe["values"] if re.search(r"\b20\d\d\b", v)], probe["values"]
    labels = hour_labels(probe)
    assert len(labels) >= 4, probe
    # The browser runs in UTC; the axis reads Tokyo's clock (UTC+9), like the card.
    for split, label in labels:
        assert label == datetime.fromtimestamp(split, ZoneInfo("Asia/Tokyo")).strftime("%-I%p").lower(), probe
    utc = page.evaluate(CHART_PROBE, [one, ""])
    assert hour_labels(utc) != labels


def test_simulated_points_are_drawn_apart_and_marked(page):
    only_simulated = {"times": [1200, 600], "real": [None, None], "simulated": [3.0, 4.0], "anyReal": False}
    probe = page.evaluate(CHART_PROBE, [only_simulated, "Europe/Berlin"])
    assert probe["simulated"] == "true" and probe["label"].startswith("Simulated temperature"), probe
    real = {"times": [600], "real": [3.0], "simulated": [None], "anyReal": True}
    probe = page.evaluate(CHART_PROBE, [real, "Europe/Berlin"])
    assert probe["simulated"] == "false" and probe["label"].startswith("Temperature"), probe


def test_widgets_follow_the_units_the_page_remembered(browser, server):
    context = browser.new_context()
    context.add_init_script(
        'localStorage.setItem("weatherstream.units", \'{"temperature":"F","speed":"mph"}\')'
    )
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url + "widgets/")
    temp = page.locator("[data-weatherstream-widget] .weatherstream-widget__temp").first
    expect(temp).to_have_text(re.compile(r"^-?\d+\.\d °F$"), timeout=10_000)
    assert not errors, errors
    context.close()


# -- forecasts, from the loopback Open-Meteo ------------------------------------------


@pytest.fixture
def forecast_server(tmp_path):
    with open_meteo_server(
        tmp_path, WEATHERSTREAM_FORECAST_INTERVAL="1", WEATHERSTREAM_UPSTREAM_BUDGET="null"
    ) as both:
        yield both


def whole(value: float) -> str:
    """A temperature as the forecast list writes it: whole degrees, halves away from 0."""
    return str(int(math.copysign(math.floor(abs(value) + 0.5), value)))


def day_max(item) -> str:
    return item.locator(".forecast-day__max").inner_text().replace("−", "-")


def test_the_forecast_strip_and_list_render_and_update_in_place(browser, forecast_server):
    server, upstream = forecast_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url)
    add_city(page, "Berlin")
    berlin = card(page, "Berlin")
    strip, days = berlin.locator(".forecast-hourly"), berlin.locator(".forecast-daily li.forecast-day")
    expect(strip.locator("canvas")).to_have_count(1, timeout=15_000)
    expect(strip).to_have_attribute("data-hours", "48")
    expect(strip).to_have_attribute("data-simulated", "false")
    expect(berlin.locator(".forecast__source").first).to_have_text("via open-meteo")
    # The list: the served days from Berlin's today on (the fake serves 7 UTC days).
    utc_today = datetime.now(UTC).date()
    served = [(utc_today + timedelta(days=i)).isoformat() for i in range(len(FORECAST["daily"]["time"]))]
    today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()
    shown = [d for d in served if d >= today]
    expect(days).to_have_count(len(shown), timeout=10_000)
    assert [days.nth(i).get_attribute("data-date") for i in range(len(shown))] == shown
    first_max = FORECAST["daily"]["temperature_2m_max"][served.index(shown[0])]
    assert day_max(days.first) == f"{whole(first_max)} °C"
    temps = page.evaluate(
        "el => Array.from(el.uplot.data[1])", berlin.locator(".forecast-hourly__chart").element_handle()
    )
    assert len(temps) == 48 and all(isinstance(t, (int, float)) for t in temps)

    # A new model run, 3 °C warmer, whose 10-minute margin (RUN_MARGIN: Open-Meteo's servers
    # all have it) ends in 2 s: the list and the strip change in place, one chart still.
    upstream.model_run_at = time.time() - RUN_MARGIN + 2
    upstream.warming = 3.0
    expect(days.first.locator(".forecast-day__max")).to_have_text(
        re.compile(f"^[-−]?{abs(int(whole(first_max + 3)))} °C$"), timeout=20_000
    )
    warmer = page.evaluate(
        "el => Array.from(el.uplot.data[1])", berlin.locator(".forecast-hourly__chart").element_handle()
    )
    assert warmer[0] == pytest.approx(temps[0] + 3, abs=0.05), (temps[0], warmer[0])
    expect(strip.locator("canvas")).to_have_count(1)
    expect(days).to_have_count(len(shown))

    page.locator("#unit-temperature").select_option("F")
    expect(strip).to_have_attribute("data-unit", "°F")
    expect(days.first.locator(".forecast-day__max")).to_contain_text("°F")
    assert day_max(days.first) == f"{whole((first_max + 3) * 9 / 5 + 32)} °F"

    # At phone width and in dark mode: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 800})
    page.emulate_media(color_scheme="dark")
    expect(strip.locator("canvas")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    ARTIFACTS.mkdir(exist_ok=True)
    berlin.screenshot(path=ARTIFACTS / "forecast-phone-dark.png")
    assert not errors, errors
    context.close()


# -- a personal weather station: registered, found by the search box, uploading live --------


@pytest.fixture
def station_server(tmp_path):
    """The product's server (simulated provider) with uploads as fast as a test sends them
    and a station marked stale after 5 s without one."""
    server = Server(tmp_path, WEATHERSTREAM_STATION_MIN_INTERVAL="0", WEATHERSTREAM_STATION_SILENCE_AFTER="5")
    server.start()
    yield server
    server.stop()


def register_station(server: Server, name: str, lat: float, lon: float) -> tuple[str, str]:
    """Register a station in the server's own database, as its operator does; (id, key)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "weatherstream_station", "add", name, "--lat", str(lat),
         "--lon", str(lon), "--json"],
        cwd=EXAMPLE, env=server.env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["id"], answer["key"]


def upload(server: Server, station_id: str, key: str, **fields: str) -> str:
    """One Weather Underground upload of the station, as its console sends it."""
    query = urllib.parse.urlencode(
        {"ID": station_id, "PASSWORD": key, "dateutc": "now", **fields, "action": "updateraw"}
    )
    url = f"{server.url}weatherstation/updateweatherstation.php?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode().strip()


def test_a_station_is_found_by_search_updates_live_and_stays_after_a_reload(browser, station_server):
    server = station_server
    station_id, key = register_station(server, "Garden", 52.52, 13.40)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)

    # The search box lists the station, marked as one, and picking it adds its card.
    page.locator("#city").press_sequentially("Garden", delay=40)
    options = page.locator("#city-suggestions [role=option]")
    expect(options.first).to_be_visible(timeout=5_000)
    station_option = options.filter(has=page.locator(".badge--station"))
    expect(station_option).to_have_count(1)
    expect(options.first).to_contain_text("Garden")  # stations come first
    expect(station_option.locator(".badge--station")).to_have_text("station")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#city-suggestions").screenshot(path=ARTIFACTS / "station-suggestion.png")
    station_option.click()
    garden = page.locator(f'.card[data-location="{station_id}"]')
    expect(garden).to_have_count(1, timeout=10_000)
    expect(garden.locator(".card__name")).to_have_text("Garden")
    expect(garden.locator(".card__region .badge--station")).to_have_text("station")
    expect(garden.locator(".card__temp-value")).to_have_text("–")  # nothing uploaded yet
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Uploads reach the open card at once: 50 °F is 10 °C, then 59 °F is 15 °C.
    assert upload(server, station_id, key, tempf="50", humidity="80", baromin="30.0") == "success"
    expect(garden.locator(".card__temp-value")).to_have_text("10.0", timeout=10_000)
    expect(garden.locator(".card__source")).to_have_text(f"via station {station_id}")
    expect(garden).to_have_attribute("data-source", f"station:{station_id}")
    expect(garden.locator(".detail dd").nth(1)).to_have_text("80 %")  # humidity, as uploaded
    # A station does not observe the sky: no summary, no weather icon, nothing invented.
    expect(garden.locator(".card__summary")).to_be_hidden()
    expect(garden.locator(".card__summary")).to_have_text("")
    expect(garden.locator(".card__icon")).to_have_attribute("aria-label", "Weather station")
    expect(garden.locator(".card__icon svg")).to_have_attribute("data-icon", "station")
    page.wait_for_timeout(1100)  # "now" is to the second: a repeat of one second is no news
    assert upload(server, station_id, key, tempf="59", humidity="70", baromin="30.0") == "success"
    expect(garden.locator(".card__temp-value")).to_have_text("15.0", timeout=10_000)
    expect(garden).to_have_attribute("data-trend", "up")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"

    # Its history chart and its forecasts (for its coordinates), like any card's.
    expect(garden.locator(".card__chart canvas")).to_have_count(1, timeout=10_000)
    expect(garden.locator(".forecast-daily li.forecast-day")).not_to_have_count(0, timeout=15_000)
    expect(garden.locator(".forecast-hourly canvas")).to_have_count(1, timeout=15_000)

    # Silent for STATION_SILENCE_AFTER: marked stale, with its age; not a service outage.
    expect(garden).to_have_class(re.compile(r"\bstale\b"), timeout=20_000)
    expect(garden.locator(".badge--stale")).to_contain_text(re.compile(r"stale · \d+ s old"))
    expect(page.locator("#outage-banner")).to_be_hidden()
    expect(garden.locator(".card__temp-value")).to_have_text("15.0")

    garden.screenshot(path=ARTIFACTS / "station-card-desktop.png")
    page.set_viewport_size({"width": 375, "height": 800})
    expect(garden.locator(".card__chart canvas")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    garden.screenshot(path=ARTIFACTS / "station-card-phone.png")

    # The watch list keeps the station: after a reload its card comes back by itself.
    stored = page.evaluate("JSON.parse(localStorage.getItem('weatherstream.cities'))")
    assert stored == [f"station:{station_id}"], stored
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
    expect(page.locator(".card")).to_have_count(1, timeout=10_000)
    expect(garden.locator(".card__name")).to_have_text("Garden", timeout=10_000)
    expect(garden.locator(".card__temp-value")).to_have_text("15.0", timeout=10_000)
    expect(garden.locator(".card__source")).to_have_text(f"via station {station_id}")
    assert not errors, errors
    context.close()


# -- resuming after a reconnect: the chart's gap filled by the server's replay ----------------

# The page's WebSockets, kept where a test can close one (as a network cut would).
KEEP_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""
CHART_TIMES = "el => (el.uplot ? Array.from(el.uplot.data[0]) : [])"


def chart_times(page: Page, name: str) -> list[float]:
    """The times (Unix seconds) of the points the card's history chart draws, in its order."""
    return page.evaluate(CHART_TIMES, card(page, name).locator(".card__chart").element_handle())


def stored_times(server, location_id: str) -> list[float]:
    """The times of the readings the server's database holds for a place (last hour)."""
    query = urllib.parse.urlencode({"location": location_id, "hours": "1"})
    with urllib.request.urlopen(f"{server.url}api/history?{query}", timeout=10) as response:
        observations = json.load(response)["observations"]
    return [stamp(o["observed_at"]) for o in observations]


def stamp(iso: str) -> float:
    """An observed_at as Unix seconds, as the chart keeps it."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wait_until(page: Page, check, what: str, timeout: float = 20.0):
    """``check()``'s first truthy answer within ``timeout`` seconds, else fail naming ``what``.
    Waits in the page's time: Playwright delivers events (WebSocket frames) only then."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last: {answer!r})")
        page.wait_for_timeout(250)


def cut_connection(page: Page, name: str, seconds: float = 5.0) -> list[float]:
    """Cut the page's connection from its side for ~5 intervals, then let it reconnect:
    its socket closed, and the browser offline so that the client's reconnect attempts fail
    meanwhile (going offline alone leaves an open WebSocket open in this Chromium). The
    times the card ``name``'s chart held when cut."""
    label = page.locator(".connection__label")
    page.context.set_offline(True)
    page.evaluate("window.__sockets.at(-1).close()")
    expect(label).to_contain_text("Reconnecting in", timeout=10_000)
    cut = chart_times(page, name)
    page.wait_for_timeout(seconds * 1000)
    assert chart_times(page, name) == cut, "nothing arrived while offline"
    page.context.set_offline(False)
    expect(label).to_have_text("Live", timeout=40_000)
    return cut


def test_after_a_cut_connection_the_chart_holds_exactly_the_stored_readings(page, server):
    sockets: list[list[tuple[str, dict]]] = []  # per socket: ("sent" or "received", frame)

    def opened(ws) -> None:
        frames: list[tuple[str, dict]] = []
        sockets.append(frames)
        ws.on("framesent", lambda payload: frames.append(("sent", json.loads(payload))))
        ws.on("framereceived", lambda payload: frames.append(("received", json.loads(payload))))

    def latest(kind: str, way: str = "received") -> list[dict]:
        """The frames of ``kind`` the newest socket carried that ``way``."""
        return [f for w, f in (sockets[-1] if sockets else []) if w == way and f.get("type") == kind]

    page.on("websocket", opened)
    page.add_init_script(KEEP_SOCKETS)
    page.reload()  # the page's sockets seen (and kept) from its start
    expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
    add_city(page, "Lisbon")
    lisbon = card(page, "Lisbon")
    expect(lisbon.locator(".card__chart canvas")).to_have_count(1, timeout=15_000)
    location_id = lisbon.get_attribute("data-location")
    first = wait_until(page, lambda: chart_times(page, "Lisbon"), "a first point on the chart")
    wait_until(page, lambda: len(chart_times(page, "Lisbon")) >= len(first) + 2, "two more live readings")
    assert len(sockets) == 1
    assert "since" not in latest("subscribe", "sent")[0], "the first subscribe of a page has none"

    cut = cut_connection(page, "Lisbon")
    assert len(sockets) >= 2

    # It subscribed again with the time of the last reading it had, and got the gap replayed.
    resubscribe = wait_until(page, lambda: latest("subscribe", "sent"), "the resubscribe")
    since = stamp(resubscribe[-1]["since"])
    assert since == cut[-1], (resubscribe, cut[-1])
    subscribed = wait_until(page, lambda: latest("subscribed"), "subscribed")
    assert subscribed[-1]["recovered"] is True
    wait_until(
        page, lambda: len([f for f in latest("weather") if not f.get("replay")]) >= 2, "two live ones after"
    )
    gap = [stamp(f["weather"]["observed_at"]) for f in latest("weather") if f.get("replay")]
    assert len(gap) >= 4, f"about five readings were missed: {len(gap)} replayed"

    # The chart: in order, none twice, exactly what the database holds for the window.
    shown = chart_times(page, "Lisbon")
    assert shown == sorted(set(shown)), shown
    assert all(cut[-1] < t for t in gap) and set(gap) <= set(shown), (cut[-1], gap, shown)
    stored = wait_until(
        page,
        lambda: (held := stored_times(server, location_id)) and held[-1] >= shown[-1] and held,
        "the shown readings stored",
    )
    assert shown == [t for t in stored if shown[0] <= t <= shown[-1]]


def test_a_gap_the_server_cannot_fill_reloads_the_cards_history(page, server):
    """``"recovered": false`` (here made so by rewriting the server's answer on its way to
    the page, the replay dropped): the card's history is loaded again over HTTP."""
    rewritten: list[dict] = []

    def route(ws) -> None:
        upstream = ws.connect_to_server()

        def to_page(message) -> None:
            frame = json.loads(message)
            if frame.get("replay"):
                return
            if "recovered" in frame:
                frame["recovered"] = False
                rewritten.append(frame)
            ws.send(json.dumps(frame))

        upstream.on_message(to_page)

    history_asked: list[str] = []
    page.on("request", lambda r: "/api/history" in r.url and history_asked.append(r.url))
    page.route_web_socket(re.compile(r"/ws/weather/"), route)
    page.add_init_script(KEEP_SOCKETS)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "1", timeout=20_000)
    add_city(page, "Porto")
    porto = card(page, "Porto")
    expect(porto.locator(".card__chart canvas")).to_have_count(1, timeout=15_000)
    location_id = porto.get_attribute("data-location")
    first = wait_until(page, lambda: chart_times(page, "Porto"), "a first point on the chart")
    wait_until(page, lambda: len(chart_times(page, "Porto")) >= len(first) + 2, "two more live readings")
    assert len(history_asked) == 1, history_asked

    cut = cut_connection(page, "Porto")
    wait_until(page, lambda: rewritten, "the resubscribe answered")
    wait_until(page, lambda: len(history_asked) == 2, "the history asked for again")
    assert f"location={location_id}" in history_asked[-1]
    # the gap filled from the history: the chart holds what the database holds
    wait_until(
        page,
        lambda: len([t for t in chart_times(page, "Porto") if t > cut[-1]]) >= 5,
        "the gap filled",
    )
    shown = chart_times(page, "Porto")
    assert shown == sorted(set(shown)), shown
    stored = wait_until(
        page,
        lambda: (held := stored_times(server, location_id)) and held[-1] >= shown[-1] and held,
        "the shown readings stored",
    )
    assert shown == [t for t in stored if shown[0] <= t <= shown[-1]]
