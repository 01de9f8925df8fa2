// The search box: what a typed text means (a city, "lat, lon" or "station:<id>"), the
// autocompletion list of places (registered weather stations first, marked), the query a picked place subscribes to, and the error under the box
// (with "Did you mean" buttons). Pure functions first, tested with node
// (tests/js/search.test.mjs); then the combobox's DOM wiring, which the browser tests cover.
import { normalizeQuery } from "./client.js";
import { elementMaker } from "./dom.js";
import { looksLikeCoords, parseCoords, parseStationText, stationText } from "./place.js";

export const SUGGEST_DELAY = 250;
export const MAX_SUGGESTIONS = 8;
export const MAX_DID_YOU_MEAN = 3;
export const HINT = "Type a city name or “lat, lon”.";

/** "52.52, 13.405" -> {lat, lon}; "station:st-1a2b3c4d5e6f" (or the id alone) ->
 *  {station}; anything else -> {city}. Throws on bad input: a RangeError (its message
 *  says the ranges) for coordinates out of range, a TypeError for nothing at all. */
export function parseQuery(text) {
  const station = parseStationText(text);
  if (station !== null) return normalizeQuery({ station }).query;
  return parseCoords(text) ?? normalizeQuery({ city: text }).query;
}

/** What the box says about a text parseQuery refused. */
export const parseErrorText = (err) => (err instanceof RangeError ? err.message : HINT);

/** Worth asking the server for places: a locations URL, two letters, not coordinates. */
export const wantsSuggestions = (text, locationsUrl) =>
  Boolean(locationsUrl) && text.length >= 2 && !looksLikeCoords(text);

/** The places of a /api/locations answer worth listing (those with a name), at most ``max``. */
export function suggestionList(data, max = MAX_SUGGESTIONS) {
  const results = Array.isArray(data && data.results) ? data.results.filter((r) => r && r.name) : [];
  return results.slice(0, max);
}

/** The second line of a suggestion: its region and country, without repeating the name. */
export const suggestionWhere = (r) => [r.region, r.country].filter((part) => part && part !== r.name).join(", ");

/** The option the arrow keys move to, wrapping around (``step`` +1 down, -1 up). */
export function nextActive(active, count, step) {
  if (step > 0) return active + 1 >= count ? 0 : active + 1;
  return active <= 0 ? count - 1 : active - 1;
}

/**
 * What a picked suggestion subscribes to: ``{text, fallback}``. A weather station (a
 * result with ``station: true``) by its id, as "station:<id>"; a coordinate place by its
 * coordinates; else "Name, CC", or "Name, Region, CC" when the region (the state for US
 * places, else the country's name) tells same-named places in one country apart, with
 * "Name, CC" as the fallback should the server not take it.
 */
export function pickedQuery(r) {
  if (r.station === true && r.id != null && String(r.id).trim()) return { text: stationText(r.id), fallback: null };
  const lat = Number(r.lat);
  const lon = Number(r.lon);
  if (/^-?[\d.]+,-?[\d.]+$/.test(String(r.id)) && Number.isFinite(lat) && Number.isFinite(lon)) {
    return { text: `${lat}, ${lon}`, fallback: null };
  }
  const short = r.country ? `${r.name}, ${r.country}` : r.name;
  const region = r.region && r.region !== r.name && r.region !== r.country ? r.region : "";
  if (region && r.country) return { text: `${r.name}, ${region}, ${r.country}`, fallback: short };
  return { text: short, fallback: null };
}

/** The usable places of an unknown_city error's `suggestions` ({name, region, country, query}). */
export function didYouMean(places, max = MAX_DID_YOU_MEAN) {
  if (!Array.isArray(places)) return [];
  const usable = (p) => p && typeof p.name === "string" && typeof p.query === "string" && p.query.trim();
  return places.filter(usable).slice(0, max);
}

/** A "Did you mean" button's words: "Paris, Texas". */
export function meantLabel(place) {
  const where = place.region || place.country;
  return where && where !== place.name ? `${place.name}, ${where}` : place.name;
}

/** The server dropped the frame for now; the client sends it again. */
export const isRetrying = (code) => code === "rate_limited" || code === "unavailable";

/**
 * What the box says when the server answers a subscribe with an error: ``{text, places}``
 * (places: "Did you mean" suggestions), or null for nothing. ``request`` is
 * ``{text, fromSearch}``: typed in the box, or restored from storage.
 */
export function refusal(frame, request) {
  const message = frame.message || "The server could not do that.";
  if (isRetrying(frame.code)) {
    return request.fromSearch ? { text: `“${request.text}”: ${message} Retrying shortly…`, places: [] } : null;
  }
  if (!request.fromSearch) return { text: `Couldn’t restore “${request.text}”: ${message}`, places: [] };
  const meant = frame.code === "unknown_city" ? didYouMean(frame.suggestions) : [];
  if (meant.length) return { text: `No city called “${request.text}”.`, places: meant };
  return { text: frame.message ? message : `Couldn’t add “${request.text}”.`, places: [] };
}

// --- the combobox (DOM) ----------------------------------------------------------------

/**
 * Wire the search form: autocompletion from ``locationsUrl`` (a listbox driven by the
 * arrow keys, Enter, Escape and the mouse) and submitting. ``subscribe(text, {fromSearch,
 * fallback})`` is called for what to add. Returns {showError(text, places), clearError(),
 * restore(text)}.
 */
export function searchBox({ doc, form, input, list, error, locationsUrl, subscribe }) {
  const h = elementMaker(doc);
  let suggestions = [];
  let active = -1;
  let timer = null;
  let controller = null;

  function showError(text, places = []) {
    error.replaceChildren(text);
    if (places.length) {
      error.append(" Did you mean:");
      for (const place of places) {
        const button = h("button", { type: "button", className: "search__meant", text: meantLabel(place) });
        button.addEventListener("click", () => {
          input.value = "";
          input.focus(); // the button goes away with the error
          subscribe(place.query, { fromSearch: true });
        });
        error.append(" ", button);
      }
    }
    input.setAttribute("aria-invalid", "true");
  }

  function clearError() {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  /** Put a refused text back in an empty box, selected when the box has the focus. */
  function restore(text) {
    if (input.value) return;
    input.value = text;
    if (doc.activeElement === input) input.select();
  }

  function cancel() {
    clearTimeout(timer);
    timer = null;
    if (controller) controller.abort();
    controller = null;
  }

  function close() {
    suggestions = [];
    active = -1;
    list.replaceChildren();
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  const isOpen = () => !list.hidden && suggestions.length > 0;

  function open(results) {
    close();
    suggestions = results;
    if (!results.length) return;
    results.forEach((r, i) => {
      const where = suggestionWhere(r);
      const option = h(
        "li",
        { id: `city-option-${i}`, role: "option", "aria-selected": "false", className: "suggestion" },
        h("span", { className: "suggestion__name", text: r.name }),
        r.station === true ? h("span", { className: "badge badge--station", text: "station" }) : null,
        where ? h("span", { className: "suggestion__where", text: where }) : null,
      );
      option.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the input
      option.addEventListener("mousemove", () => active !== i && setActive(i));
      option.addEventListener("click", () => pick(i));
      list.append(option);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function setActive(i) {
    active = i;
    [...list.children].forEach((li, j) => {
      li.setAttribute("aria-selected", String(j === i));
      li.classList.toggle("is-active", j === i);
    });
    if (i >= 0) {
      const li = list.children[i];
      input.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function pick(i) {
    const r = suggestions[i];
    if (!r) return;
    cancel();
    close();
    input.value = "";
    const { text, fallback } = pickedQuery(r);
    subscribe(text, fallback ? { fromSearch: true, fallback } : { fromSearch: true });
  }

  async function fetchSuggestions(text) {
    cancel();
    const mine = new AbortController();
    controller = mine;
    const url = new URL(locationsUrl, location.href);
    url.searchParams.set("q", text);
    try {
      const response = await fetch(url, { signal: mine.signal, headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (mine !== controller || input.value.trim() !== text) return;
      if (doc.activeElement === input) open(suggestionList(data));
    } catch (err) {
      if (err.name !== "AbortError" && mine === controller) close();
    } finally {
      if (mine === controller) controller = null;
    }
  }

  input.addEventListener("input", () => {
    clearError();
    cancel();
    const text = input.value.trim();
    if (!wantsSuggestions(text, locationsUrl)) {
      close();
      return;
    }
    timer = setTimeout(() => fetchSuggestions(text), SUGGEST_DELAY);
  });

  input.addEventListener("keydown", (e) => {
    if (e.isComposing) return;
    const count = suggestions.length;
    switch (e.key) {
      case "ArrowDown":
      case "ArrowUp":
        if (!count) return;
        e.preventDefault();
        if (list.hidden) open(suggestions);
        setActive(nextActive(active, count, e.key === "ArrowDown" ? 1 : -1));
        break;
      case "Enter":
        if (isOpen() && active >= 0) {
          e.preventDefault();
          pick(active);
        }
        break;
      case "Escape":
        if (isOpen() || timer || controller) {
          e.preventDefault();
          cancel();
          close();
        }
        break;
      case "Tab":
        close();
        break;
    }
  });

  input.addEventListener("blur", () => {
    cancel();
    close();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (isOpen() && active >= 0) {
      pick(active);
      return;
    }
    cancel();
    close();
    const text = input.value.trim();
    if (!text) {
      showError(HINT);
      input.focus();
      return;
    }
    input.value = "";
    subscribe(text, { fromSearch: true });
  });

  return { showError, clearError, restore };
}
