import assert from "node:assert/strict";
import test from "node:test";

import { points, verdicts } from "../src/deletion.js";

test("a deletion curve is drawn with fractions across and the share of the probability up, clipped", () => {
  assert.equal(points([0, 0.5, 1], [1, 0.5, 0], 100, 50), "0.0,0.0 50.0,25.0 100.0,50.0");
  assert.equal(points([0, 1], [1.4, -0.1], 100, 50), "0.0,0.0 100.0,50.0");
  assert.equal(points([0, 1], [0.3, 0.15], 100, 50, 0.3), "0.0,0.0 100.0,25.0", "scaled to the highest probability drawn");
});

test("each curve's line gives its area and says where it is no better than random, or not judged", () => {
  const lines = verdicts({ labels: ["cat", "dog", "fox"], starts: [0.31, 0.42, 0.001], areas: [0.31, -0.004, 0.2], spreads: [0.05, 0.02, 0.1], beats: [true, false, false], judged: [true, true, false] });
  assert.deepEqual(lines, [
    { text: "cat (p 0.31): area +0.310 (random ±0.050)", weak: false },
    { text: "dog (p 0.42): area -0.004 (random ±0.020) — no better than random: do not read much into this map", weak: true },
    { text: "fox (p 0.00): too little probability to fall, so its map is not judged", weak: false },
  ]);
});
