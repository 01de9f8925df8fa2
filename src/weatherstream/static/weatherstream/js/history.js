// A card's recent readings, kept apart by kind: real readings and simulated ones are never
// one series. Pure functions: tested with node (tests/js/history.test.mjs).

export const HISTORY_HOURS = 24;

/** An empty series. */
export const emptyHistory = () => ({ times: [], celsius: [], simulated: [] });

/** Append a reading (ordered, no duplicates, the last ``hours``); false when not added. */
export function addPoint(history, w, hours = HISTORY_HOURS) {
  const when = new Date(w.observed_at).getTime() / 1000;
  if (!Number.isFinite(when) || w.temperature == null || !Number.isFinite(Number(w.temperature))) return false;
  const { times, celsius, simulated } = history;
  if (times.length && when <= times[times.length - 1]) return false;
  times.push(when);
  celsius.push(Number(w.temperature));
  simulated.push(w.source === "simulated");
  const cutoff = when - hours * 3600;
  while (times.length && times[0] < cutoff) {
    times.shift();
    celsius.shift();
    simulated.shift();
  }
  return true;
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
