// What the page remembers in localStorage: the watched places, as typed (a weather
// station as "station:<id>", place.js's stationText), and the units.
// Any use of localStorage may throw (private mode, storage full or blocked): then the
// page works on and just forgets. Tested with node (tests/js/storage.test.mjs).
import * as fmt from "./format.js";

export const CITIES_KEY = "weatherstream.cities";

/** Two spellings that differ only in spaces or letter case are one remembered query. */
export const keyOf = (text) => String(text).trim().replace(/\s+/g, " ").toLowerCase();

/** A stored list -> its texts, once each. Strings, and the older {city} and {lat, lon}
 *  entries; anything else is skipped. */
export function cleanQueries(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const item of list) {
    let text = null;
    if (typeof item === "string") text = item.trim();
    else if (item && typeof item.city === "string") text = item.city.trim();
    else if (item && item.lat != null && item.lon != null) text = `${item.lat}, ${item.lon}`;
    if (text && !out.some((t) => keyOf(t) === keyOf(text))) out.push(text);
  }
  return out;
}

/** The page's memory over ``getStorage()`` (localStorage; asked on every use, inside
 *  the try, since merely reading window.localStorage can throw). */
export function pageStorage(getStorage = () => globalThis.localStorage) {
  const write = (key, value) => {
    try {
      getStorage().setItem(key, JSON.stringify(value));
    } catch {
      /* the page still works, it just forgets */
    }
  };

  /** The remembered queries, in the order they were added. */
  function queries() {
    try {
      return cleanQueries(JSON.parse(getStorage().getItem(CITIES_KEY) || "[]"));
    } catch {
      return [];
    }
  }

  /** Add a query unless it is remembered already (in any spelling keyOf joins). */
  function remember(text) {
    const list = queries();
    if (!list.some((t) => keyOf(t) === keyOf(text))) write(CITIES_KEY, [...list, text]);
  }

  /** Drop a query (in any spelling keyOf joins); nothing is written when it was not there. */
  function forget(text) {
    const list = queries();
    const kept = list.filter((t) => keyOf(t) !== keyOf(text));
    if (kept.length !== list.length) write(CITIES_KEY, kept);
  }

  /** The remembered units ({temperature, speed}), or the defaults. */
  function units() {
    try {
      return fmt.rememberedUnits(getStorage());
    } catch {
      return { ...fmt.DEFAULT_UNITS };
    }
  }

  /** Remember units (anything unknown replaced by the default); returns what was kept. */
  function setUnits(next) {
    const cleaned = fmt.cleanUnits(next);
    write(fmt.UNITS_KEY, cleaned);
    return cleaned;
  }

  return { queries, remember, forget, units, setUnits };
}
