import assert from "node:assert/strict";
import { test } from "node:test";

import { BLUE, ORANGE, groupMasks, heat, pairHeat } from "../src/colors.js";

test("heat: one colour, opacity from the positive part scaled by the maximum", () => {
  const rgba = heat(Float32Array.from([2, 1, 0, -3]), [10, 20, 30], 2);
  assert.deepEqual(Array.from(rgba.slice(0, 4)), [10, 20, 30, 255]);
  assert.equal(rgba[7], 128);
  assert.equal(rgba[11], 0);
  assert.equal(rgba[15], 0, "negative values are transparent");
  assert.equal(heat([0, 0], ORANGE)[3], 0, "all-zero maps stay transparent instead of dividing by zero");
});

test("pairHeat: each cell takes the larger class's colour, both on one scale", () => {
  const rgba = pairHeat([4, 0, 1], [1, 2, 0]);
  assert.deepEqual(Array.from(rgba.slice(0, 4)), [...ORANGE, 255]);
  assert.deepEqual(Array.from(rgba.slice(4, 8)), [...BLUE, 128]);
  assert.deepEqual(Array.from(rgba.slice(8, 12)), [...ORANGE, 64]);
});

test("groupMasks: strongest group per cell, or one group alone", () => {
  // two groups over three cells
  const masks = Float32Array.from([1, 0.2, 0, 0.5, 0.6, 0]);
  const colors = Uint8Array.from([255, 0, 0, 0, 0, 255]);
  const all = groupMasks(masks, 2, colors);
  assert.deepEqual(Array.from(all.slice(0, 4)), [255, 0, 0, 255]);
  assert.deepEqual(Array.from(all.slice(4, 8)), [0, 0, 255, 153]);
  assert.equal(all[11], 0, "a cell no group covers is transparent");
  const first = groupMasks(masks, 2, colors, 0);
  assert.deepEqual(Array.from(first.slice(4, 8)), [255, 0, 0, 51]);
});
