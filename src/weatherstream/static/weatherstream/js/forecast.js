// A card's forecast: the next 48 hours (a strip, drawn by chart.js's ForecastChart) and
// the next 7 days (a list), in the chosen units and on the place's clock. What they say is
// pure (hourlySeries, hourlyText, dayView); the DOM is built with createElement and
// textContent only. Tested with node (tests/js/forecast.test.mjs).
import { numberFormat, timeFormatter } from "./cards.js";
import { elementMaker } from "./dom.js";
import * as fmt from "./format.js";
import { iconSvg } from "./icons.js";

export const STRIP_HOURS = 48;
export const DAYS = 7;

const HOUR = 3600;
const DASH = "–";
const browserNumber = numberFormat();
const utc = () => timeFormatter("UTC");

/** The calendar date ("YYYY-MM-DD") at ``now`` (ms) in ``timeZone``; UTC's when unknown. */
export function localDate(now, timeZone) {
  const options = { year: "numeric", month: "2-digit", day: "2-digit" };
  let f;
  try {
    f = new Intl.DateTimeFormat("en-US", { ...options, timeZone: timeZone || "UTC" });
  } catch {
    f = new Intl.DateTimeFormat("en-US", { ...options, timeZone: "UTC" });
  }
  const part = Object.fromEntries(f.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  return `${part.year}-${part.month}-${part.day}`;
}

/** The hourly ``items`` still ahead at ``now`` (ms): the hour it is in and the ones
 *  after it, in time order, at most ``hours``, each as ``[time (s), item]``. */
export function upcomingHours(items, now = Date.now(), hours = STRIP_HOURS) {
  const from = now / 1000 - HOUR; // an hour that has not ended yet is still ahead
  return (Array.isArray(items) ? items : [])
    .map((item) => [Date.parse(item.time) / 1000, item])
    .filter(([t]) => Number.isFinite(t) && t > from)
    .sort(([a], [b]) => a - b)
    .slice(0, hours);
}

/**
 * What the strip draws from hourly ``items`` (upcomingHours's): ``{times (s), temperature
 * (in ``unit``), precipitation (mm), probability (%)}``, null where a value is unknown.
 */
export function hourlySeries(items, { unit = "C", now = Date.now(), hours = STRIP_HOURS } = {}) {
  const kept = upcomingHours(items, now, hours);
  const value = (v) => (v == null || !Number.isFinite(Number(v)) ? null : Number(v));
  return {
    times: kept.map(([t]) => t),
    temperature: kept.map(([, item]) => fmt.temperature(item.temperature, unit)),
    precipitation: kept.map(([, item]) => value(item.precipitation)),
    probability: kept.map(([, item]) => value(item.precipitation_probability)),
  };
}

/** "Next 48 hours", "Next 7 days": a part's heading for ``count`` items. */
export const heading = (count, unit) => `Next ${count} ${unit}${count === 1 ? "" : "s"}`;

/** The strip in words: "-1 to 5 °C, 2.4 mm precipitation" (``series`` in ``unit``). */
export function hourlyText(series, unit, number = browserNumber) {
  const temps = series.temperature.filter((t) => t != null);
  const rain = series.precipitation.filter((p) => p != null);
  const said = [];
  const symbol = fmt.TEMPERATURE_UNITS[unit];
  if (temps.length) said.push(`${number(Math.min(...temps))} to ${number(Math.max(...temps))} ${symbol}`);
  if (rain.length) said.push(`${number(rain.reduce((a, b) => a + b, 0), 1)} mm precipitation`);
  return said.join(", ") || DASH;
}

/** The days of daily ``items`` from ``today`` (the place's date) on, at most ``days``. */
export function upcomingDays(items, today, days = DAYS) {
  return (Array.isArray(items) ? items : [])
    .filter((item) => typeof item.date === "string" && item.date >= today)
    .sort((a, b) => (a.date < b.date ? -1 : 1))
    .slice(0, days);
}

function clockFormatter(timeZone, locale) {
  const options = { hour: "2-digit", minute: "2-digit" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone: timeZone || "UTC" });
  } catch {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" });
  }
}

/**
 * What one day of the list says in ``units``: its name ("Today" or the weekday), the
 * weather, max and min, precipitation (sum, probability) and sunrise/sunset on the place's
 * clock, each null when the forecast does not know it. ``date`` is the place's own date.
 */
export function dayView(item, units, { timeZone, today, number = browserNumber, locale = undefined } = {}) {
  const [y, m, d] = item.date.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d)); // a calendar date: read in UTC, it stays that date
  const named = (options) => new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(day);
  const unit = fmt.TEMPERATURE_UNITS[units.temperature];
  const temp = (celsius) => (celsius == null ? null : `${number(fmt.temperature(celsius, units.temperature))} ${unit}`);
  const icon = fmt.weatherIcon(item.weather_code, true);

  const amounts = [];
  if (item.precipitation_sum != null) amounts.push(`${number(item.precipitation_sum, 1)} mm`);
  if (item.precipitation_probability_max != null) amounts.push(`${number(item.precipitation_probability_max)} %`);

  const clock = clockFormatter(timeZone, locale);
  const at = (iso) => {
    const when = iso ? new Date(iso) : null;
    return when && !Number.isNaN(when.getTime()) ? { iso: when.toISOString(), text: clock.format(when) } : null;
  };
  const sunrise = at(item.sunrise);
  const sunset = at(item.sunset);

  return {
    date: item.date,
    name: item.date === today ? "Today" : named({ weekday: "short" }),
    title: named({ weekday: "long", day: "numeric", month: "long" }),
    icon,
    summary: item.summary || (item.weather_code != null ? `Weather code ${item.weather_code}` : DASH),
    max: temp(item.temperature_max),
    min: temp(item.temperature_min),
    precipitation: amounts.length ? amounts.join(" · ") : null,
    sunrise,
    sunset,
  };
}

/** Where a forecast came from: "via open-meteo" (a simulated one is marked, as readings are). */
export function sourceView(frame, formatter) {
  const source = frame.source || "";
  const issued = frame.issued_at ? new Date(frame.issued_at) : null;
  const valid = issued && !Number.isNaN(issued.getTime());
  return {
    source,
    text: source ? `via ${source}` : "",
    title: valid ? `Issued ${formatter().long.format(issued)}` : "",
    issued: valid ? issued.toISOString() : "",
    simulated: fmt.isSimulated(frame),
  };
}

/**
 * A card's forecast section, empty and hidden until a forecast arrives: ``{el, refs}``,
 * ``refs.chart`` the strip's chart container (the ForecastChart draws there).
 */
export function createForecast(doc) {
  const h = elementMaker(doc);
  const refs = {
    hourly: h("div", { className: "forecast-hourly", dataset: { kind: "hourly" }, hidden: true }),
    hourlyTitle: h("h3", { className: "forecast__title" }),
    hourlyText: h("p", { className: "forecast__summary" }),
    chart: h("div", { className: "forecast-hourly__chart" }),
    hourlySource: h("p", { className: "forecast__source" }),
    daily: h("div", { className: "forecast-daily", dataset: { kind: "daily" }, hidden: true }),
    dailyTitle: h("h3", { className: "forecast__title" }),
    days: h("ol", { className: "forecast-daily__list" }),
    dailySource: h("p", { className: "forecast__source" }),
  };
  refs.hourly.append(refs.hourlyTitle, refs.hourlyText, refs.chart, refs.hourlySource);
  refs.daily.append(refs.dailyTitle, refs.days, refs.dailySource);
  const el = h("section", { className: "forecast", "aria-label": "Forecast", hidden: true }, refs.hourly, refs.daily);
  return { el, refs };
}

function showSource(part, holder, frame, formatter) {
  const view = sourceView(frame, formatter);
  holder.textContent = view.text;
  if (view.title) holder.setAttribute("title", view.title);
  else holder.removeAttribute("title");
  holder.classList.toggle("card__source--simulated", view.simulated);
  part.dataset.source = view.source;
  part.dataset.simulated = String(view.simulated);
  part.dataset.issuedAt = view.issued;
  part.hidden = false;
}

/** Show an hourly forecast ``frame`` (its strip's ``series``, hourlySeries's answer) in
 *  ``forecast`` (createForecast's): the words and the source; the chart is drawn apart. */
export function showHourly(forecast, frame, series, units, { number = browserNumber, formatter = utc } = {}) {
  const { refs, el } = forecast;
  refs.hourlyTitle.textContent = heading(series.times.length, "hour");
  refs.hourlyText.textContent = hourlyText(series, units.temperature, number);
  refs.hourly.dataset.hours = String(series.times.length);
  refs.hourly.dataset.start = series.times.length ? new Date(series.times[0] * 1000).toISOString() : "";
  refs.hourly.dataset.unit = fmt.TEMPERATURE_UNITS[units.temperature];
  showSource(refs.hourly, refs.hourlySource, frame, formatter);
  el.hidden = false;
}

/** Show a daily forecast ``frame`` in ``forecast``: one list item per day from the place's
 *  today (``now``, ms, in ``timeZone``), the list replaced as a whole. */
export function showDaily(doc, forecast, frame, units, options = {}) {
  const { timeZone, now = Date.now(), number = browserNumber, locale, formatter = utc } = options;
  const h = elementMaker(doc);
  const { refs, el } = forecast;
  const today = localDate(now, timeZone);
  const time = (className, title, arrow, at) =>
    at && h("time", { className, datetime: at.iso, title: `${title} ${at.text}`, text: `${arrow} ${at.text}` });
  const items = upcomingDays(frame.forecast, today).map((item) => {
    const view = dayView(item, units, { timeZone, today, number, locale });
    const { label } = view.icon;
    const icon = h("span", { className: "forecast-day__icon", role: "img", "aria-label": label, title: label });
    icon.append(iconSvg(view.icon, doc));
    const sun = [
      time("forecast-day__sunrise", "Sunrise", "↑", view.sunrise),
      time("forecast-day__sunset", "Sunset", "↓", view.sunset),
    ].filter(Boolean);
    return h(
      "li",
      { className: "forecast-day", dataset: { date: view.date } },
      h("span", { className: "forecast-day__name", title: view.title, text: view.name }),
      icon,
      h("span", { className: "forecast-day__summary", text: view.summary }),
      h(
        "span",
        { className: "forecast-day__temps" },
        h("span", { className: "forecast-day__max", title: "High", text: view.max ?? DASH }),
        h("span", { className: "forecast-day__min", title: "Low", text: view.min ?? DASH }),
      ),
      h(
        "span",
        { className: "forecast-day__more" },
        view.precipitation &&
          h("span", { className: "forecast-day__precipitation", title: "Precipitation", text: view.precipitation }),
        sun.length ? h("span", { className: "forecast-day__sun" }, ...sun) : null,
      ),
    );
  });
  refs.dailyTitle.textContent = heading(items.length, "day");
  refs.days.replaceChildren(...items);
  refs.daily.dataset.days = String(items.length);
  refs.daily.dataset.unit = fmt.TEMPERATURE_UNITS[units.temperature];
  showSource(refs.daily, refs.dailySource, frame, formatter);
  el.hidden = false;
}
