// The watched places on the page: one card per location id, kept in the order they were
// added, each with its history chart (past readings loaded once, live ones added) and its
// forecast (the latest frame of each kind), and the two banners that depend on every
// reading and forecast. Tested with node (tests/js/watchlist.test.mjs).
import { bannerState, createCard, showReading, showWatchers, timeFormatter } from "./cards.js";
import { ForecastChart, HistoryChart } from "./chart.js";
import * as forecast from "./forecast.js";
import * as fmt from "./format.js";
import * as history from "./history.js";

const HOUR_MS = 3600 * 1000;

export class Watchlist {
  #cards = new Map(); // location id -> card
  #provider = null;

  /**
   * ``container`` holds the cards; ``banners`` is {simulated, outage} (elements shown or
   * hidden); ``units`` the units to show; ``past(locationId)`` resolves to the place's
   * readings of the last HISTORY_HOURS (rejects: the chart shows live ones only).
   * ``Chart`` and ``Strip`` draw the history and the forecast; ``now()`` is the clock (ms).
   */
  constructor({ doc, container, banners, units, past, Chart = HistoryChart, Strip = ForecastChart, now = Date.now }) {
    this.doc = doc;
    this.container = container;
    this.banners = banners;
    this.units = units;
    this.past = past;
    this.Chart = Chart;
    this.Strip = Strip;
    this.now = now;
  }

  get size() {
    return this.#cards.size;
  }

  /** The card of a location id, or undefined. */
  get(locationId) {
    return this.#cards.get(locationId == null ? locationId : String(locationId));
  }

  values() {
    return this.#cards.values();
  }

  /** The provider the server named in its hello ("simulated" shows the banner). */
  setProvider(name) {
    this.#provider = name;
    this.updateBanners();
  }

  /** A new card for ``loc``, placed before the first card with a greater ``order``. */
  add(loc, order) {
    const locationId = String(loc.id);
    const card = createCard(this.doc, loc, this.units);
    card.order = order;
    card.history = history.emptyHistory();
    card.chart = new this.Chart(card.refs.chart, loc.name || "Unknown place");
    card.forecasts = { hourly: null, daily: null }; // the latest frame of each kind
    card.forecast = forecast.createForecast(this.doc);
    card.refs.forecast.append(card.forecast.el);
    card.strip = new this.Strip(card.forecast.refs.chart, loc.name || "Unknown place");
    const after = [...this.#cards.values()].find((c) => c.order > order);
    this.container.insertBefore(card.el, after ? after.el : null);
    this.#cards.set(locationId, card);
    this.#loadHistory(card, locationId);
    return card;
  }

  /** Show a reading; a new one (not ``quiet``, not stale) joins the chart. */
  show(card, w, { quiet = false } = {}) {
    showReading(this.doc, card, w, this.units, { quiet });
    if (!quiet && !w.stale && history.addPoint(card.history, w)) this.draw(card);
    // A reading is the page's tick: once an hour has passed, the strip starts later.
    if (card.forecastHour !== Math.floor(this.now() / HOUR_MS)) this.drawForecast(card);
    this.updateBanners();
  }

  /**
   * A reading missed while the page was away (a "weather" frame with "replay": true, sent
   * in order after a reconnect, before any live one): it fills the chart's gap, once per
   * observed_at (a point already there is not added again), stale-marked or not (it is a
   * stored reading). The card shows it only when it is newer than the one it shows:
   * "subscribed" brought the latest already.
   */
  replay(card, w) {
    if (!w) return;
    const added = history.addPoint(card.history, w);
    if (history.isNewer(w, card.reading)) this.show(card, w); // its point is on the chart now
    if (added) this.draw(card);
  }

  /** Load a card's past readings again (/api/history), merged with the points it has:
   *  after a reconnect whose gap the server could not fill ("recovered": false). */
  reloadHistory(card) {
    const locationId = String(card.location.id);
    if (this.#cards.get(locationId) !== card) return Promise.resolve();
    return this.#loadHistory(card, locationId);
  }

  /** Show how many connections watch the card's place: ``subscribed``'s ``watchers``,
   *  then each ``watchers`` frame's ``count`` (no number: hidden). */
  showWatchers(card, count) {
    showWatchers(card, count);
  }

  /** Show a "forecast" frame on ``card``: it replaces the one of its kind. */
  showForecast(card, frame) {
    if (!(frame.kind in card.forecasts) || !Array.isArray(frame.forecast)) return;
    card.forecasts[frame.kind] = frame;
    this.drawForecast(card, [frame.kind]);
    this.updateBanners();
  }

  /** Take a card off the page; returns it (undefined when there was none). With
   *  ``focusAfter``, the focus moves to a neighbour's remove button, else to that element. */
  remove(locationId, { focusAfter = null } = {}) {
    const card = this.#cards.get(locationId);
    if (!card) return undefined;
    let next = null;
    if (focusAfter) {
      const neighbour = card.el.nextElementSibling || card.el.previousElementSibling;
      next = (neighbour && neighbour.querySelector(".card__remove")) || focusAfter;
    }
    card.chart.destroy();
    card.strip.destroy();
    card.el.remove();
    this.#cards.delete(locationId);
    this.updateBanners();
    if (next) next.focus();
    return card;
  }

  /** Show every card in other units. */
  setUnits(units) {
    this.units = units;
    for (const card of this.#cards.values()) {
      if (card.reading) this.show(card, card.reading, { quiet: true });
      this.draw(card);
      this.drawForecast(card);
    }
  }

  updateBanners() {
    const cards = [...this.#cards.values()];
    const shown = bannerState(cards.map((card) => card.reading), this.#provider);
    const simulatedForecast = cards.some((card) => Object.values(card.forecasts).some(fmt.isSimulated));
    this.banners.simulated.hidden = !(shown.simulated || simulatedForecast);
    this.banners.outage.hidden = !shown.outage;
  }

  /** (Re)draw the forecast ``kinds`` of a card that has them, from now on, in the units. */
  drawForecast(card, kinds = ["hourly", "daily"]) {
    const now = this.now();
    const timeZone = card.location.timezone;
    const formatter = () => (card.formatter ??= timeFormatter(timeZone));
    card.forecastHour = Math.floor(now / HOUR_MS);
    const hourly = kinds.includes("hourly") && card.forecasts.hourly;
    if (hourly) {
      const series = forecast.hourlySeries(hourly.forecast, { unit: this.units.temperature, now });
      forecast.showHourly(card.forecast, hourly, series, this.units, { formatter });
      card.strip.draw(series, fmt.TEMPERATURE_UNITS[this.units.temperature], timeZone, fmt.isSimulated(hourly));
    }
    const daily = kinds.includes("daily") && card.forecasts.daily;
    if (daily) forecast.showDaily(this.doc, card.forecast, daily, this.units, { timeZone, now, formatter });
  }

  draw(card) {
    const series = history.chartSeries(card.history, (c) => fmt.temperature(c, this.units.temperature));
    card.chart.draw(series, fmt.TEMPERATURE_UNITS[this.units.temperature], card.location.timezone);
  }

  async #loadHistory(card, locationId) {
    try {
      const past = await this.past(locationId);
      // Merge with live points that arrived while this was loading.
      card.history = history.merged(past, card.history);
    } catch (err) {
      console.warn("weatherstream: no history for", locationId, err);
    }
    this.draw(card);
  }
}

/** ``past`` for a Watchlist: GET ``url``?location=…&hours=24 (relative to ``base``), its
 *  "observations" (an empty list when it has none). */
export function historyLoader(url, base, fetchImpl = (...args) => fetch(...args)) {
  return async (locationId) => {
    const target = new URL(url || "/api/history", base);
    target.searchParams.set("location", locationId);
    target.searchParams.set("hours", String(history.HISTORY_HOURS));
    const response = await fetchImpl(target, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    return Array.isArray(data.observations) ? data.observations : [];
  };
}
