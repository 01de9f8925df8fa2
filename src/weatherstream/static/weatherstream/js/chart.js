// A card's charts, drawn by uPlot (the npm registry's release, committed in ../vendor/ by
// `make vendor`): the temperature history and the forecast strip. Should uPlot fail to
// load, the page works on without charts.

import * as history from "./history.js";

let uPlotLoading = null;

export function loadUPlot() {
  uPlotLoading ??= import(new URL("../vendor/uPlot.esm.js", import.meta.url).href)
    .then((module) => module.default)
    .catch((err) => {
      console.warn("weatherstream: no chart library, charts are off", err);
      return null;
    });
  return uPlotLoading;
}

const css = (name, fallback) =>
  (typeof document !== "undefined" && getComputedStyle(document.documentElement).getPropertyValue(name).trim()) ||
  fallback;

// The place's IANA zone as the browser knows it, or null (then the browser's own).
function zoneOf(timeZone) {
  try {
    return timeZone ? new Intl.DateTimeFormat(undefined, { timeZone }).resolvedOptions().timeZone : null;
  } catch {
    return null;
  }
}

const tzDateIn = (uPlot, zone) => (zone ? (ts) => uPlot.tzDate(new Date(ts * 1e3), zone) : (ts) => new Date(ts * 1e3));

/** Temperature over time in ``container``; ``draw(series, unit, timeZone)`` (re)draws it.
 *  ``series`` is history.chartSeries's answer: real readings as a line, simulated ones
 *  (only when there are no real ones) dashed and labelled as such. */
export class HistoryChart {
  constructor(container, label) {
    this.container = container;
    this.label = label;
    this.plot = null;
    this.key = "";
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(container);
  }

  async draw(series, unit, timeZone) {
    const uPlot = await loadUPlot();
    if (!uPlot || !this.container.isConnected) return;
    const data = [series.times, series.real, series.simulated];
    const key = `${unit}|${timeZone || ""}`;
    if (this.plot && this.key === key) {
      this.plot.setData(data);
      return;
    }
    this.destroy({ keepObserver: true });
    this.key = key;
    const stroke = css("--accent", "#2563eb");
    const grid = css("--line", "#e5e7eb");
    const text = css("--muted", "#6b7280");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const zone = zoneOf(timeZone);
    this.plot = new uPlot(
      {
        width: Math.max(200, this.container.clientWidth),
        height: 120,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        // The place's clock, like the card's "Observed" time; the last 24 hours even
        // when there is one point (uPlot would otherwise span years around it).
        tzDate: tzDateIn(uPlot, zone),
        scales: { x: { time: true, range: (u) => history.timeWindow(u.data[0]) } },
        axes: [{ ...axis, space: 60 }, { ...axis, size: 44, label: unit, labelSize: 14 }],
        series: [
          {},
          { label: `${this.label} (${unit})`, stroke, width: 2, spanGaps: true, points: { show: true, size: 5 } },
          {
            label: `${this.label}, simulated (${unit})`,
            stroke: text,
            width: 2,
            dash: [6, 4],
            spanGaps: true,
            points: { show: true, size: 5 },
          },
        ],
      },
      data,
      this.container,
    );
    this.plot.root.setAttribute("role", "img");
    const what = series.anyReal || !series.simulated.some((v) => v != null) ? "Temperature" : "Simulated temperature";
    this.plot.root.setAttribute("aria-label", `${what} in ${this.label} over the last 24 hours, ${unit}`);
    this.plot.root.dataset.timeZone = zone || "";
    this.container.uplot = this.plot; // for inspection (the browser tests, devtools)
    this.plot.root.dataset.simulated = String(!series.anyReal && series.simulated.some((v) => v != null));
  }

  resize() {
    if (this.plot && this.container.clientWidth > 0) {
      this.plot.setSize({ width: Math.max(200, this.container.clientWidth), height: 120 });
    }
  }

  destroy({ keepObserver = false } = {}) {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    if (!keepObserver) this.resizer.disconnect();
  }
}

const STRIP_HEIGHT = 140;

/**
 * The next hours in ``container``: temperature as a line, precipitation as bars (mm, on
 * their own scale at the right), on the place's clock. ``draw(series, unit, timeZone,
 * simulated)`` (re)draws it from forecast.hourlySeries's ``series``: new data goes into the
 * same uPlot; another unit, zone or source replaces it (the old one destroyed). A
 * simulated forecast is dashed and labelled so. ``load`` resolves to uPlot (or null).
 */
export class ForecastChart {
  constructor(container, label, { load = loadUPlot } = {}) {
    this.container = container;
    this.label = label;
    this.load = load;
    this.plot = null;
    this.key = "";
    this.destroyed = false;
    this.resizer = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.resize()) : null;
    this.resizer?.observe(container);
  }

  async draw(series, unit, timeZone, simulated = false) {
    const uPlot = await this.load();
    if (!uPlot || this.destroyed || this.container.isConnected === false) return;
    const data = [series.times, series.temperature, series.precipitation];
    const zone = zoneOf(timeZone);
    const key = `${unit}|${zone || ""}|${simulated}`;
    if (this.plot && this.key === key) {
      this.plot.setData(data);
      return;
    }
    this.#drop();
    this.key = key;
    const stroke = css("--accent", "#2563eb");
    const rain = css("--rain", "#60a5fa");
    const grid = css("--border", "#d5dce6");
    const text = css("--muted", "#6b7280");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    this.plot = new uPlot(
      {
        width: this.#width(),
        height: STRIP_HEIGHT,
        legend: { show: true, live: true }, // the hour under the pointer, in words
        cursor: { y: false, points: { size: 6 } },
        tzDate: tzDateIn(uPlot, zone),
        scales: { x: { time: true }, mm: { range: (u, min, max) => [0, Math.max(2, max || 0)] } },
        axes: [
          { ...axis, space: 50 },
          { ...axis, size: 40, label: unit, labelSize: 14 },
          { ...axis, scale: "mm", side: 1, size: 34, grid: { show: false }, label: "mm", labelSize: 14 },
        ],
        series: [
          { value: "{WWW} {HH}:{mm}" },
          {
            label: simulated ? "Simulated" : "Temperature",
            value: (u, v) => (v == null ? "–" : `${v.toFixed(1)} ${unit}`),
            stroke: simulated ? text : stroke,
            width: 2,
            dash: simulated ? [6, 4] : undefined,
            spanGaps: true,
            points: { show: false },
          },
          {
            label: "Precipitation",
            value: (u, v) => (v == null ? "–" : `${v.toFixed(1)} mm`),
            scale: "mm",
            stroke: rain,
            fill: rain,
            width: 0,
            paths: uPlot.paths.bars({ size: [0.7, 12] }),
            points: { show: false },
          },
        ],
      },
      data,
      this.container,
    );
    const what = simulated ? "Simulated forecast" : "Forecast";
    const label = `${what} for ${this.label}: temperature (${unit}) and precipitation (mm) by hour`;
    this.plot.root.setAttribute("role", "img");
    this.plot.root.setAttribute("aria-label", label);
    this.plot.root.dataset.timeZone = zone || "";
    this.plot.root.dataset.simulated = String(simulated);
    this.container.uplot = this.plot; // for inspection (the browser tests, devtools)
  }

  #width() {
    return Math.max(200, this.container.clientWidth || 0);
  }

  resize() {
    if (this.plot && this.container.clientWidth > 0) this.plot.setSize({ width: this.#width(), height: STRIP_HEIGHT });
  }

  #drop() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.container.uplot = null;
  }

  destroy() {
    this.destroyed = true;
    this.#drop();
    this.resizer?.disconnect();
  }
}
