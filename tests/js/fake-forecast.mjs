// Forecast items as the server sends them (see docs/protocol.md), for the tests of the
// page and the widget. Not a test file itself.

const HOUR = 3600 * 1000;

/** ``count`` hours from ``start`` (ISO), temperatures -2, -1.5, -1, ... */
export function hours(start, count = 72, extra = () => ({})) {
  const t0 = Date.parse(start);
  return Array.from({ length: count }, (_, i) => ({
    time: new Date(t0 + i * HOUR).toISOString().replace(".000Z", "Z"),
    temperature: -2 + i * 0.5,
    precipitation: i % 4 === 0 ? 0.4 : 0,
    precipitation_probability: 10,
    weather_code: 3,
    summary: "Overcast",
    is_day: true,
    ...extra(i),
  }));
}

/** ``count`` local days from ``first`` ("YYYY-MM-DD"). */
export function days(first, count = 7, extra = () => ({})) {
  const d0 = Date.parse(`${first}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => {
    const date = new Date(d0 + i * 24 * HOUR).toISOString().slice(0, 10);
    return {
      date,
      temperature_max: 4.2 + i,
      temperature_min: -1.0 + i,
      precipitation_sum: 1.2,
      precipitation_probability_max: 40,
      weather_code: 61,
      summary: "Slight rain",
      sunrise: `${date}T06:58:00Z`,
      sunset: `${date}T14:55:00Z`,
      ...extra(i),
    };
  });
}
