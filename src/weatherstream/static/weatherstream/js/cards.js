// One card per watched place: what it says for a reading (pure, readingView) and its
// DOM (createCard, showReading, showWatchers; createElement/textContent only, the
// document is a parameter). Tested with node (tests/js/cards.test.mjs).
import { elementMaker, highlight } from "./dom.js";
import * as fmt from "./format.js";
import { iconSvg } from "./icons.js";
import { isStationId } from "./place.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const DASH = "–";
const STALE_TITLE = "The latest update failed; this is the last good reading.";
const STATION_STALE_TITLE = "The station has not uploaded for a while; this is its last reading.";

/** ``number(value, digits)``: a locale's digits ("–" for no number, never "-0"). */
export function numberFormat(locale = undefined) {
  const formatters = new Map();
  return function number(value, digits = 0) {
    if (value == null || !Number.isFinite(Number(value))) return DASH;
    let f = formatters.get(digits);
    if (!f) {
      f = new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
      formatters.set(digits, f);
    }
    const text = f.format(Number(value));
    return /^[-−]0([.,]0+)?$/.test(text) ? text.replace(/^[-−]/, "") : text;
  };
}

const browserNumber = numberFormat();

const COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];

/** Degrees -> one of the 16 compass points. */
export function compass(degrees) {
  return COMPASS[Math.round((((Number(degrees) % 360) + 360) % 360) / 22.5) % 16];
}

/** {short, long} time formatters for the place's time zone; UTC when it is unknown. */
export function timeFormatter(timeZone, locale = undefined) {
  const options = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  const long = { dateStyle: "medium", timeStyle: "long" };
  try {
    if (!timeZone) throw new RangeError("no time zone");
    return {
      short: new Intl.DateTimeFormat(locale, { ...options, timeZone }),
      long: new Intl.DateTimeFormat(locale, { ...long, timeZone }),
    };
  } catch {
    return {
      short: new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }),
      long: new Intl.DateTimeFormat(locale, { ...long, timeZone: "UTC" }),
    };
  }
}

/** "up" or "down" when the temperature moved, else null. */
export function trend(previous, temperature) {
  if (previous == null || temperature == null || previous === temperature) return null;
  return temperature > previous ? "up" : "down";
}

/**
 * What a card shows for reading ``w`` in ``units`` ({temperature, speed}): every text,
 * the stale badge (with the reading's age), the wind arrow, the observed time (through
 * ``formatter()``, asked only for a valid time) and the source ("via simulated" is
 * marked). ``number`` formats digits (numberFormat()). A weather station's reading
 * ("source": "station:<id>") has no weather code: no summary and the neutral station
 * icon, never invented weather; its source reads "via station <id>".
 */
export function readingView(w, units, { number = browserNumber, formatter = () => timeFormatter("UTC") } = {}) {
  const unit = fmt.TEMPERATURE_UNITS[units.temperature];
  const temp = (celsius, digits = 1) => number(fmt.temperature(celsius, units.temperature), digits);
  const speed = (kmh) => `${number(fmt.speed(kmh, units.speed))} ${fmt.SPEED_UNITS[units.speed]}`;
  const stale = Boolean(w.stale);
  const source = w.source || "";
  const station = fmt.isStation(w);

  const wind = [];
  if (w.wind_speed != null) wind.push(speed(w.wind_speed));
  if (w.wind_gusts != null) wind.push(`gusts ${speed(w.wind_gusts)}`);
  let arrow = null;
  if (w.wind_direction != null && Number.isFinite(Number(w.wind_direction))) {
    const from = Number(w.wind_direction);
    wind.push(`from ${compass(from)}`);
    // the arrow points where the wind blows to
    arrow = { transform: `rotate(${(from + 180) % 360}deg)`, title: `Wind from ${compass(from)} (${Math.round(from)}°)` };
  }

  let time = null;
  const observed = w.observed_at ? new Date(w.observed_at) : null;
  if (observed && !Number.isNaN(observed.getTime())) {
    const f = formatter();
    time = { iso: observed.toISOString(), text: f.short.format(observed), title: f.long.format(observed) };
  }

  return {
    temperature: temp(w.temperature),
    unit,
    celsius: w.temperature != null ? String(w.temperature) : null,
    summary: w.summary || (w.weather_code != null ? `Weather code ${w.weather_code}` : station ? "" : DASH),
    stale,
    staleText: stale && w.age != null ? `stale · ${fmt.age(w.age)} old` : "stale",
    staleTitle: station ? STATION_STALE_TITLE : STALE_TITLE,
    day: w.is_day == null ? null : w.is_day ? "day" : "night",
    icon: fmt.readingIcon(w),
    feels: w.feels_like != null ? `${temp(w.feels_like)} ${unit}` : DASH,
    humidity: w.humidity != null ? `${number(w.humidity)} %` : DASH,
    pressure: w.pressure != null ? `${number(w.pressure)} hPa` : DASH,
    precipitation: w.precipitation != null ? `${number(w.precipitation, 1)} mm` : DASH,
    clouds: w.cloud_cover != null ? `${number(w.cloud_cover)} %` : DASH,
    wind: wind.length ? wind.join(", ") : DASH,
    arrow,
    time,
    source,
    sourceText: station ? `via station ${source.slice("station:".length)}` : source ? `via ${source}` : "",
    simulated: source === "simulated",
    station,
  };
}

/** "N watching" for a count of watching connections (``number`` formats it), or "" for
 *  no count (not a whole number of 0 or more: nothing is shown). */
export function watchersText(count, number = browserNumber) {
  return Number.isInteger(count) && count >= 0 ? `${number(count)} watching` : "";
}

/** The page's banners for the cards' latest readings (null: none yet): "simulated" when
 *  the provider or any reading is simulated; "outage" when every reading is stale. A
 *  weather station's readings do not count for the outage: a silent station is that
 *  station's news, not the weather service's. */
export function bannerState(readings, provider) {
  let simulated = provider === "simulated";
  let read = 0;
  let stale = 0;
  for (const reading of readings) {
    if (!reading || fmt.isStation(reading)) continue;
    read += 1;
    if (reading.stale) stale += 1;
    if (reading.source === "simulated") simulated = true;
  }
  // Every reading stale: the weather service is down, not one place's data.
  return { simulated, outage: read > 0 && stale === read };
}

function windArrow(doc) {
  const svg = doc.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "wind__arrow");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = doc.createElementNS(SVG_NS, "path");
  // points up (north) unrotated
  path.setAttribute("d", "M12 2 L19 20 L12 16 L5 20 Z");
  svg.append(path);
  return svg;
}

/**
 * A new card for location ``loc`` ({id, name, country, region, timezone}) showing
 * temperatures in ``units``: ``{el, refs, location, reading, texts, formatter}``.
 * ``refs.remove`` is its remove button, ``refs.chart`` the chart's container,
 * ``refs.forecast`` the forecast's (forecast.js), ``refs.watchers`` the "N watching" in
 * its meta line (showWatchers).
 */
export function createCard(doc, loc, units) {
  const h = elementMaker(doc);
  const detail = (label, value) => h("div", { className: "detail" }, h("dt", { text: label }), value);
  const locationId = String(loc.id);
  const name = loc.name || "Unknown place";
  const titleId = `card-title-${locationId.replace(/[^\w-]/g, "_")}`;
  const refs = {
    name: h("span", { className: "card__name", text: name }),
    country: h("span", { className: "card__country", text: loc.country || "" }),
    region: h("p", { className: "card__region" }),
    remove: h("button", { type: "button", className: "card__remove", "aria-label": `Remove ${name}`, title: `Remove ${name}` }),
    temp: h("p", { className: "card__temp" }),
    tempValue: h("span", { className: "card__temp-value", text: DASH }),
    tempUnit: h("span", { className: "card__temp-unit", text: fmt.TEMPERATURE_UNITS[units.temperature] }),
    icon: h("span", { className: "card__icon", role: "img", "aria-label": "Waiting for a reading" }),
    chart: h("div", { className: "card__chart" }),
    forecast: h("div", { className: "card__forecast" }),
    summary: h("p", { className: "card__summary", text: "Waiting for the first reading…" }),
    stale: h("span", {
      className: "badge badge--stale",
      text: "stale",
      title: STALE_TITLE,
      hidden: true,
    }),
    feels: h("dd", { text: DASH }),
    humidity: h("dd", { text: DASH }),
    wind: h("dd", { className: "wind" }),
    windArrow: windArrow(doc),
    windText: h("span", { text: DASH }),
    pressure: h("dd", { text: DASH }),
    precipitation: h("dd", { text: DASH }),
    clouds: h("dd", { text: DASH }),
    time: h("time", { text: DASH }),
    source: h("span", { className: "card__source" }),
    // how many watch the place: quiet, read when the card is, never announced on a change
    watchers: h("span", {
      className: "card__watchers",
      "aria-live": "off",
      title: `Pages watching ${name} live now, this one included`,
      hidden: true,
    }),
  };
  const region = loc.region && loc.region !== name ? loc.region : "";
  const station = isStationId(loc.id);
  if (station) {
    // a registered weather station: marked as one beside where it is ("near Berlin")
    refs.region.append(h("span", { className: "badge badge--station", text: "station" }), ...(region ? [` ${region}`] : []));
  } else {
    refs.region.textContent = region;
  }
  refs.region.hidden = !region && !station;
  refs.remove.append(h("span", { "aria-hidden": "true", text: "×" }));
  refs.temp.append(refs.tempValue, refs.tempUnit);
  refs.windArrow.style.visibility = "hidden";
  refs.wind.append(refs.windArrow, refs.windText);

  const el = h(
    "article",
    { className: station ? "card card--station" : "card", dataset: { location: locationId }, "aria-labelledby": titleId },
    h(
      "header",
      { className: "card__head" },
      h("div", {}, h("h2", { className: "card__title", id: titleId }, refs.name, " ", refs.country), refs.region),
      refs.remove,
    ),
    h(
      "div",
      { className: "card__now" },
      refs.icon,
      refs.temp,
      h("div", { className: "card__conditions" }, refs.summary, refs.stale),
    ),
    h(
      "dl",
      { className: "card__details" },
      detail("Feels like", refs.feels),
      detail("Humidity", refs.humidity),
      detail("Wind", refs.wind),
      detail("Pressure", refs.pressure),
      detail("Precipitation", refs.precipitation),
      detail("Cloud cover", refs.clouds),
    ),
    refs.chart,
    refs.forecast,
    h("footer", { className: "card__meta" }, h("span", {}, "Observed ", refs.time), refs.watchers, refs.source),
  );
  el.addEventListener("animationend", () => el.classList.remove("changed", "found"));
  return { el, refs, location: { ...loc }, reading: null, watchers: null, texts: new Set(), formatter: null };
}

/**
 * Show reading ``w`` on ``card`` in ``units``. Unless ``quiet`` (a units change redraws),
 * a changed temperature sets data-trend and plays the "changed" animation.
 */
export function showReading(doc, card, w, units, { quiet = false, number = browserNumber } = {}) {
  const { refs, el } = card;
  const previous = card.reading ? card.reading.temperature : null;
  card.reading = { ...w };
  const view = readingView(w, units, {
    number,
    formatter: () => (card.formatter ??= timeFormatter(card.location.timezone)),
  });

  refs.tempValue.textContent = view.temperature;
  refs.tempUnit.textContent = view.unit;
  if (view.celsius != null) el.dataset.temperature = view.celsius;
  else delete el.dataset.temperature;
  const moved = quiet ? null : trend(previous, w.temperature);
  if (moved) {
    el.dataset.trend = moved;
    highlight(el, "changed");
  }

  refs.summary.textContent = view.summary;
  refs.summary.hidden = !view.summary;
  el.classList.toggle("stale", view.stale);
  refs.stale.hidden = !view.stale;
  refs.stale.textContent = view.staleText;
  refs.stale.title = view.staleTitle;
  if (view.day) el.dataset.day = view.day;
  const { icon } = view;
  if (refs.icon.dataset.icon !== `${icon.name}/${icon.night}`) {
    refs.icon.dataset.icon = `${icon.name}/${icon.night}`;
    refs.icon.replaceChildren(iconSvg(icon, doc));
  }
  refs.icon.setAttribute("aria-label", icon.label);
  refs.icon.title = icon.label;

  refs.feels.textContent = view.feels;
  refs.humidity.textContent = view.humidity;
  refs.pressure.textContent = view.pressure;
  refs.precipitation.textContent = view.precipitation;
  refs.clouds.textContent = view.clouds;

  if (view.arrow) {
    refs.windArrow.style.transform = view.arrow.transform;
    refs.windArrow.style.visibility = "";
    refs.wind.title = view.arrow.title;
  } else {
    refs.windArrow.style.visibility = "hidden";
    refs.wind.removeAttribute("title");
  }
  refs.windText.textContent = view.wind;

  if (view.time) {
    refs.time.dateTime = view.time.iso;
    refs.time.textContent = view.time.text;
    refs.time.title = view.time.title;
  } else {
    refs.time.textContent = DASH;
    refs.time.removeAttribute("datetime");
  }

  refs.source.textContent = view.sourceText;
  refs.source.classList.toggle("card__source--simulated", view.simulated);
  el.dataset.source = view.source;
}

/** Show how many connections watch the card's place ("2 watching"); hidden for no count
 *  (a server that does not say). Not a live region: a screen reader reads it with the
 *  card, not every time it changes. */
export function showWatchers(card, count, { number = browserNumber } = {}) {
  const text = watchersText(count, number);
  card.watchers = text ? count : null;
  card.refs.watchers.textContent = text;
  card.refs.watchers.hidden = !text;
}
