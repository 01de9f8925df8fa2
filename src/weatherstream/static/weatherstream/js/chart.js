// A card's temperature history, drawn by uPlot (the npm registry's release, committed in
// ../vendor/ by `make vendor`). Should it fail to load, the page works on without charts.

import * as history from "./history.js";

let uPlotLoading = null;

function loadUPlot() {
  uPlotLoading ??= import(new URL("../vendor/uPlot.esm.js", import.meta.url).href)
    .then((module) => module.default)
    .catch((err) => {
      console.warn("weatherstream: no chart library, charts are off", err);
      return null;
    });
  return uPlotLoading;
}

const css = (name, fallback) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

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
    let zone = null;
    try {
      if (timeZone) zone = new Intl.DateTimeFormat(undefined, { timeZone }).resolvedOptions().timeZone;
    } catch {
      zone = null; // an unknown zone: the browser's own
    }
    this.plot = new uPlot(
      {
        width: Math.max(200, this.container.clientWidth),
        height: 120,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        // The place's clock, like the card's "Observed" time; the last 24 hours even
        // when there is one point (uPlot would otherwise span years around it).
        tzDate: zone ? (ts) => uPlot.tzDate(new Date(ts * 1e3), zone) : (ts) => new Date(ts * 1e3),
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
