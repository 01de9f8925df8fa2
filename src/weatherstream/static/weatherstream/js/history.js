// A card's recent readings, kept apart by kind: real readings and simulated ones are never
// one series. Pure functions: tested with node (tests/js/history.test.mjs).

export const HISTORY_HOURS = 24;

/** Whether reading ``w`` was observed after reading ``than`` (true when there is no
 *  ``than`` or it has no valid time; false when ``w`` has none). A replayed reading (after a
 *  reconnect) is shown only when it is newer than the one shown. */
export function isNewer(w, than) {
  const when = w ? Date.parse(w.observed_at) : NaN;
  if (!Number.isFinite(when)) return false;
  const shown = than ? Date.parse(than.observed_at) : NaN;
  return !Number.isFinite(shown) || when > shown;
}

/** An empty series. */
export const emptyHistory = () => ({ times: [], celsius: [], simulated: [] });

/** Add a reading in time order (once per time, the last ``hours``); false when not added.
 *  A real reading also drops simulated points newer than it: once real weather is back
 *  (the 12:15 slot, say), the made-up points stamped 12:20 are not the latest any more. */
export function addPoint(history, w, hours = HISTORY_HOURS) {
  const when = new Date(w.observed_at).getTime() / 1000;
  if (!Number.isFinite(when) || w.temperature == null || !Number.isFinite(Number(w.temperature))) return false;
  const { times, celsius, simulated } = history;
  const isSimulated = w.source === "simulated";
  let at = times.length;
  while (at > 0 && times[at - 1] >= when) at -= 1;
  if (times[at] === when) return false;
  if (!isSimulated) {
    for (let i = times.length - 1; i >= at; i -= 1) {
      if (simulated[i]) {
        times.splice(i, 1);
        celsius.splice(i, 1);
        simulated.splice(i, 1);
      }
    }
  }
  times.splice(at, 0, when);
  celsius.splice(at, 0, Number(w.temperature));
  simulated.splice(at, 0, isSimulated);
  const cutoff = times[times.length - 1] - hours * 3600;
  while (times.length && times[0] < cutoff) {
    times.shift();
    celsius.shift();
    simulated.shift();
  }
  return times.includes(when);
}

/**
 * What the chart draws: ``{times, real, simulated}``, two value series over one time axis
 * (null where a point is of the other kind). Simulated points are left out when the
 * window holds real ones, and drawn apart (dashed, labelled) only when it holds none.
 */
export function chartSeries(history, convert = (c) => c) {
  const anyReal = history.simulated.some((s) => !s);
  const real = [];
  const simulated = [];
  const times = [];
  history.times.forEach((t, i) => {
    const isSimulated = history.simulated[i];
    if (anyReal && isSimulated) return;
    times.push(t);
    real.push(isSimulated ? null : convert(history.celsius[i]));
    simulated.push(isSimulated ? convert(history.celsius[i]) : null);
  });
  return { times, real, simulated, anyReal };
}

/** The time axis' range: the last ``hours`` up to now (or the newest point, if later). */
export function timeWindow(times, now = Date.now() / 1000, hours = HISTORY_HOURS) {
  const end = Math.max(now, times.length ? times[times.length - 1] : now);
  return [end - hours * 3600, end];
}

/** A new series: the ``past`` readings (from /api/history), then, by addPoint's rules,
 *  the points of ``live`` (the series that took readings while they loaded). */
export function merged(past, live) {
  const history = emptyHistory();
  for (const w of past) addPoint(history, w);
  live.times.forEach((t, i) =>
    addPoint(history, {
      observed_at: t * 1000,
      temperature: live.celsius[i],
      source: live.simulated[i] ? "simulated" : "live",
    }),
  );
  return history;
}
