// Coordinates, checked in one place: the search box and the client both use these.
// Pure functions: tested with node (tests/js/place.test.mjs).

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
