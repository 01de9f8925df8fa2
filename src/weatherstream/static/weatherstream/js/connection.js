// The connection indicator: what the page says about the WebSocket for each "state"
// event of the client, with a countdown while it waits to reconnect.
// Tested with node (tests/js/connection.test.mjs).

export const STATE_LABELS = { connecting: "Connecting…", live: "Live", offline: "Offline" };

/** Whole seconds left until ``until`` (ms), never below 0. */
export const secondsLeft = (until, now) => Math.max(0, Math.ceil((until - now) / 1000));

/** The indicator's text; ``seconds`` is the countdown while reconnecting. */
export function stateLabel(state, seconds = 0) {
  if (state === "reconnecting") return `Reconnecting in ${seconds}s`;
  return STATE_LABELS[state] ?? state;
}

/** "Retry now" is offered while there is no connection and none is being opened. */
export const retryShown = (state) => state === "reconnecting" || state === "offline";

/** What a screen reader is told on entering ``state`` after ``last`` was told: nothing
 *  for "connecting", nor for the state it was told last. */
export function announcement(state, last) {
  if (state === "connecting" || state === last) return null;
  if (state === "live") return "Connected: live updates.";
  if (state === "offline") return "Offline.";
  return "Connection lost, reconnecting.";
}

/**
 * Keeps the indicator in step: ``render(detail)`` for each client "state" event.
 * ``element`` gets data-state, ``page`` (the body) data-connection, ``label`` the text,
 * ``retry`` is shown or hidden; ``announce(text)`` speaks. Timers and the clock can be
 * swapped for tests.
 */
export function connectionIndicator({
  element,
  label,
  retry,
  page,
  announce,
  now = () => Date.now(),
  setInterval = (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval = (id) => globalThis.clearInterval(id),
}) {
  let countdown = null;
  let announced = null;

  return function render({ state, retryIn = 0 }) {
    element.dataset.state = state;
    page.dataset.connection = state;
    if (countdown !== null) clearInterval(countdown);
    countdown = null;
    if (state === "reconnecting") {
      const until = now() + retryIn;
      const tick = () => {
        const seconds = secondsLeft(until, now());
        label.textContent = stateLabel(state, seconds);
        if (seconds === 0 && countdown !== null) {
          clearInterval(countdown);
          countdown = null;
        }
        return seconds;
      };
      if (tick() > 0) countdown = setInterval(tick, 500);
    } else {
      label.textContent = stateLabel(state);
    }
    retry.hidden = !retryShown(state);
    const text = announcement(state, announced);
    if (text) {
      announce(text);
      announced = state;
    }
  };
}
