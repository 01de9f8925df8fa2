// Coordinates, checked in one place: the search box and the client both use these; and
// weather stations' ids, with the text that names one in the search box and the watch
// list ("station:st-1a2b3c4d5e6f"). Pure functions: tested with node (tests/js/place.test.mjs).

/** "52.52, 13.405", "52.52,13.405", "52.52; 13.405", "52.52 13.405", signs allowed. */
export const COORDS = /^\s*([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)\s*$/;

export const RANGE_MESSAGE = "Latitude must be between -90 and 90, longitude between -180 and 180.";

/** {lat, lon} as numbers when both are finite and in range (-90..90, -180..180), else null. */
export function validCoords(lat, lon) {
  const la = Number(lat);
  const lo = Number(lon);
  if (!Number.isFinite(la) || !Number.isFinite(lo) || Math.abs(la) > 90 || Math.abs(lo) > 180) return null;
  return { lat: la, lon: lo };
}

/** True when the text is written as coordinates (in range or not). */
export const looksLikeCoords = (text) => COORDS.test(text);

/** "lat, lon" text -> {lat, lon}; null when the text is not coordinates; a RangeError
 *  (RANGE_MESSAGE) when it is but they are out of range. */
export function parseCoords(text) {
  const match = COORDS.exec(text);
  if (!match) return null;
  const coords = validCoords(match[1], match[2]);
  if (!coords) throw new RangeError(RANGE_MESSAGE);
  return coords;
}

/** A registered weather station's location id starts so ("st-1a2b3c4d5e6f"). */
export const STATION_PREFIX = "st-";

/** True for a weather station's location id. */
export const isStationId = (id) => id != null && String(id).toLowerCase().startsWith(STATION_PREFIX);

/** The text that names a station where the page keeps texts (the search box, the
 *  remembered watch list): "station:st-1a2b3c4d5e6f". parseStationText reads it back. */
export const stationText = (id) => `station:${String(id).trim().toLowerCase()}`;

const STATION_TEXT = /^\s*station:\s*(\S+)\s*$/i;
const BARE_STATION_ID = /^\s*(st-[0-9a-f]{12})\s*$/i;

/** "station:<id>" (or a station id alone, "st-" and 12 hex digits) -> the id, in lower
 *  case; null for any other text. */
export function parseStationText(text) {
  const match = STATION_TEXT.exec(text) ?? BARE_STATION_ID.exec(text);
  return match ? match[1].toLowerCase() : null;
}
