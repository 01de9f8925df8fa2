// Units and icons for the page. The wire is always metric (°C, km/h); conversion
// happens here, in the browser. Pure functions: tested with node (tests/js/).

export const TEMPERATURE_UNITS = { C: "°C", F: "°F" };
export const SPEED_UNITS = { kmh: "km/h", ms: "m/s", mph: "mph" };
export const DEFAULT_UNITS = Object.freeze({ temperature: "C", speed: "kmh" });

/** °C -> the chosen unit (null stays null). */
export function temperature(celsius, unit) {
  if (celsius == null || !Number.isFinite(Number(celsius))) return null;
  return unit === "F" ? (Number(celsius) * 9) / 5 + 32 : Number(celsius);
}

/** km/h -> the chosen unit (null stays null). */
export function speed(kmh, unit) {
  if (kmh == null || !Number.isFinite(Number(kmh))) return null;
  const value = Number(kmh);
  if (unit === "ms") return value / 3.6;
  if (unit === "mph") return value / 1.609344;
  return value;
}

// Where the page remembers the chosen units; widgets on the same site follow it.
export const UNITS_KEY = "weatherstream.units";

/** The remembered units (the page's choice), or the defaults. */
export function rememberedUnits(storage = globalThis.localStorage) {
  try {
    return cleanUnits(JSON.parse(storage.getItem(UNITS_KEY) || "null"));
  } catch {
    return { ...DEFAULT_UNITS };
  }
}

/** True when a reading comes from the simulated provider, not from a real source. */
export const isSimulated = (weather) => Boolean(weather) && weather.source === "simulated";

/** True when a reading was uploaded by a registered weather station ("source":
 *  "station:<id>"): real, but with no weather code, summary, cloud cover or feels-like. */
export const isStation = (weather) =>
  Boolean(weather) && typeof weather.source === "string" && weather.source.startsWith("station:");

/** Stored units, with anything unknown replaced by the default. */
export function cleanUnits(raw) {
  const units = { ...DEFAULT_UNITS };
  if (raw && typeof raw === "object") {
    if (raw.temperature in TEMPERATURE_UNITS) units.temperature = raw.temperature;
    if (raw.speed in SPEED_UNITS) units.speed = raw.speed;
  }
  return units;
}

// WMO 4677 weather codes (Open-Meteo's `weather_code`) -> an icon name and its words.
const ICONS = [
  [[0], "clear", "Clear"],
  [[1], "mostly-clear", "Mainly clear"],
  [[2], "partly-cloudy", "Partly cloudy"],
  [[3], "cloudy", "Overcast"],
  [[45, 48], "fog", "Fog"],
  [[51, 53, 55, 56, 57], "drizzle", "Drizzle"],
  [[61, 63, 65, 66, 67, 80, 81, 82], "rain", "Rain"],
  [[71, 73, 75, 77, 85, 86], "snow", "Snow"],
  [[68, 69, 83, 84], "snow", "Rain and snow"], // MET Norway's sleet
  [[95, 96, 99], "thunder", "Thunderstorm"],
];

/** {name, label, night} for a WMO code; day or night matters for clear skies. */
export function weatherIcon(code, isDay = true) {
  const n = code == null || code === "" ? NaN : Number(code);
  for (const [codes, name, label] of ICONS) {
    if (codes.includes(n)) return { name, label, night: isDay === false };
  }
  return { name: "unknown", label: "Unknown conditions", night: false };
}

/** The icon for a reading: its weather code's; a station's reading has no code (a
 *  station does not observe the sky), so it gets the neutral station icon, never an
 *  invented one. */
export function readingIcon(w) {
  if (w && w.weather_code == null && isStation(w)) return { name: "station", label: "Weather station", night: false };
  return weatherIcon(w ? w.weather_code : null, w ? w.is_day : true);
}

/** "12 s", "5 min", "3 h", "2 d": how old a stale reading is. */
export function age(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
