// A card's temperature history, drawn by uPlot (installed from the npm registry by
// `make install` into ../vendor/). Without it the page works on, without charts.

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

/** Temperature over time in ``container``; call ``draw(times, values, unit)`` to (re)draw. */
export class HistoryChart {
  constructor(container, label) {
    this.container = container;
    this.label = label;
    this.plot = null;
    this.unit = "";
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(container);
  }

  async draw(times, values, unit) {
    const uPlot = await loadUPlot();
    if (!uPlot || !this.container.isConnected) return;
    const data = [times, values];
    if (this.plot && this.unit === unit) {
      this.plot.setData(data);
      return;
    }
    this.destroy({ keepObserver: true });
    this.unit = unit;
    const stroke = css("--accent", "#2563eb");
    const grid = css("--line", "#e5e7eb");
    const text = css("--muted", "#6b7280");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    this.plot = new uPlot(
      {
        width: Math.max(200, this.container.clientWidth),
        height: 120,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        scales: { x: { time: true } },
        axes: [{ ...axis, space: 60 }, { ...axis, size: 44, label: unit, labelSize: 14 }],
        series: [{}, { label: `${this.label} (${unit})`, stroke, width: 2, spanGaps: true }],
      },
      data,
      this.container,
    );
    this.plot.root.setAttribute("role", "img");
    this.plot.root.setAttribute("aria-label", `Temperature in ${this.label} over the last 24 hours, ${unit}`);
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
