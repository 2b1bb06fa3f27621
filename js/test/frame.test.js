import assert from "node:assert/strict";
import test from "node:test";

import { iconStatus } from "../src/frame.js";

test("the status line counts icons at the quick budget, then at the full budget, naming each budget", () => {
  const budget = { quick: "64 px · 256 steps", full: "128 px · 512 steps (CPU)" };
  assert.equal(iconStatus([0, 0, 0], budget, ""), "", "a view without icons says nothing of them");
  assert.equal(iconStatus([3, 10, 0], budget, ""), "icons 3 / 10 (quick: 64 px · 256 steps)");
  assert.equal(iconStatus([10, 10, 4], budget, "on"), "full quality 4 / 10 (128 px · 512 steps (CPU)), refining");
  assert.equal(iconStatus([10, 10, 4], budget, "stopped"), "full quality 4 / 10 (128 px · 512 steps (CPU)), stopped");
  assert.equal(iconStatus([10, 10, 4], budget, ""), "full quality 4 / 10 (128 px · 512 steps (CPU)), refine on view");
  assert.equal(iconStatus([10, 10, 10], budget, ""), "all 10 icons at full quality (128 px · 512 steps (CPU))");
  assert.equal(iconStatus([2, 5], undefined, ""), "icons 2 / 5", "a state saved before the full budget existed");
});

test("an exported page says which icons it lacks and at which budget the rest are", () => {
  const budget = { quick: "64 px · 256 steps", full: "128 px · 512 steps (CPU)" };
  assert.equal(iconStatus([150, 196, 0], budget, "", true), "46 of 196 icons were not rendered when this page was written");
  assert.equal(iconStatus([196, 196, 12], budget, "", true), "full quality 12 / 196 (128 px · 512 steps (CPU)); the others at the quick budget (64 px · 256 steps)");
  assert.equal(iconStatus([196, 196, 196], budget, "", true), "all 196 icons at full quality (128 px · 512 steps (CPU))");
});
