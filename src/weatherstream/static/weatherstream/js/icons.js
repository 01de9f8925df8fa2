// Weather icons as inline SVG (no icon font, no emoji font needed), built with
// createElementNS. Shapes on a 32x32 grid; colours come from CSS (.wx-*).

const NS = "http://www.w3.org/2000/svg";

const SUN = [["circle", { cx: 16, cy: 16, r: 6, class: "wx-sun" }], ["path", { d: "M16 3v4M16 25v4M3 16h4M25 16h4M6.8 6.8l2.8 2.8M22.4 22.4l2.8 2.8M6.8 25.2l2.8-2.8M22.4 9.6l2.8-2.8", class: "wx-rays" }]];
const MOON = [["path", { d: "M20 5a11 11 0 1 0 7 17A9 9 0 0 1 20 5z", class: "wx-moon" }]];
const SMALL_SUN = [["circle", { cx: 11, cy: 11, r: 5, class: "wx-sun" }], ["path", { d: "M11 2v2.5M2 11h2.5M4.6 4.6l1.8 1.8M17.4 4.6l-1.8 1.8", class: "wx-rays" }]];
const SMALL_MOON = [["path", { d: "M13 3a8 8 0 1 0 5 12A6.5 6.5 0 0 1 13 3z", class: "wx-moon" }]];
const CLOUD = [["path", { d: "M9 25h15a5 5 0 0 0 0-10 7 7 0 0 0-13.4-1.5A5.8 5.8 0 0 0 9 25z", class: "wx-cloud" }]];
const LOW_CLOUD = [["path", { d: "M9 21h15a5 5 0 0 0 0-10 7 7 0 0 0-13.4-1.5A5.8 5.8 0 0 0 9 21z", class: "wx-cloud" }]];
const DROPS = [["path", { d: "M11 24l-1.5 4M17 24l-1.5 4M23 24l-1.5 4", class: "wx-rain" }]];
const DRIZZLE = [["path", { d: "M12 25v2M18 25v2M24 25v2", class: "wx-rain" }]];
const FLAKES = [["path", { d: "M11 25v4M9 27h4M18 25v4M16 27h4M25 25v4M23 27h4", class: "wx-snow" }]];
const BOLT = [["path", { d: "M17 21l-3 5h4l-2 5 6-7h-4l2-3z", class: "wx-bolt" }]];
const FOG = [["path", { d: "M5 12h22M7 17h18M5 22h22M9 27h14", class: "wx-fog" }]];
// A weather station: a mast with an anemometer's cups and an instrument screen.
const STATION = [["path", { d: "M16 9v20M11 29h10M9 7h14", class: "wx-station" }], ["circle", { cx: 9, cy: 7, r: 2, class: "wx-station" }], ["circle", { cx: 23, cy: 7, r: 2, class: "wx-station" }], ["rect", { x: 11.5, y: 14, width: 9, height: 7, rx: 1, class: "wx-screen" }]];
const UNKNOWN = [["circle", { cx: 16, cy: 16, r: 10, class: "wx-fog" }], ["path", { d: "M13 13a3 3 0 1 1 3 3v2M16 22v.5", class: "wx-fog" }]];

function shapes(name, night) {
  const body = night ? MOON : SUN;
  const small = night ? SMALL_MOON : SMALL_SUN;
  switch (name) {
    case "clear": return body;
    case "mostly-clear": return [...small, ...CLOUD.map(([t, a]) => [t, { ...a, transform: "translate(4 3) scale(0.85)" }])];
    case "partly-cloudy": return [...small, ...CLOUD];
    case "cloudy": return CLOUD;
    case "fog": return FOG;
    case "drizzle": return [...LOW_CLOUD, ...DRIZZLE];
    case "rain": return [...LOW_CLOUD, ...DROPS];
    case "snow": return [...LOW_CLOUD, ...FLAKES];
    case "thunder": return [...LOW_CLOUD, ...BOLT];
    case "station": return STATION;
    default: return UNKNOWN;
  }
}

/** An <svg> for an icon from format.weatherIcon(), made in ``doc``. */
export function iconSvg({ name, night }, doc = globalThis.document) {
  const svg = doc.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 32 32");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.dataset.icon = name;
  for (const [tag, attrs] of shapes(name, night)) {
    const el = doc.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
    svg.append(el);
  }
  return svg;
}
