// The chart library committed in the package is exactly the release package-lock.json pins
// (`make vendor` copies it from node_modules/ after `npm ci`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const root = new URL("../../", import.meta.url);
const vendor = new URL("src/weatherstream/static/weatherstream/vendor/", root);
const lock = JSON.parse(readFileSync(new URL("package-lock.json", root), "utf8"));

test("the committed uPlot is the locked release, byte for byte", () => {
  const installed = JSON.parse(readFileSync(new URL("node_modules/uplot/package.json", root), "utf8"));
  assert.equal(installed.version, lock.packages["node_modules/uplot"].version);
  for (const [committed, released] of [
    ["uPlot.esm.js", "node_modules/uplot/dist/uPlot.esm.js"],
    ["uPlot.min.css", "node_modules/uplot/dist/uPlot.min.css"],
    ["uPlot.LICENSE", "node_modules/uplot/LICENSE"],
  ]) {
    assert.ok(
      readFileSync(new URL(committed, vendor)).equals(readFileSync(new URL(released, root))),
      `${committed} differs from the locked uPlot ${installed.version}: run make vendor`,
    );
  }
});
