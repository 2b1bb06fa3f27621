import assert from "node:assert/strict";
import { test } from "node:test";

import { cellAt, col, column, entries, largest, onGrid, prefixToken, rescale, row, samePosition, slice, topK } from "../src/ranking.js";

const cube = { shape: [3, 2, 2], values: Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13, 5, 6, 7, 8]) };

test("topK: indices of the largest values, largest first", () => {
  assert.deepEqual(topK(Float32Array.from([0.1, 3, -2, 2]), 2), [1, 3]);
  assert.deepEqual(topK([1, 2], 5), [1, 0], "k larger than the array gives them all");
});

test("column: the channel vector at one position of a (C, H, W) cube", () => {
  assert.deepEqual(Array.from(column(cube, 1, 0)), [2, 12, 7]);
});

test("row, col and slice of decoded arrays", () => {
  const m = { shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual(Array.from(row(m, 1)), [4, 5, 6]);
  assert.deepEqual(Array.from(col(m, 2)), [3, 6]);
  assert.deepEqual(Array.from(slice(cube, 2)), [5, 6, 7, 8]);
});

test("cellAt: the grid cell under a point, null outside", () => {
  assert.deepEqual(cellAt(0, 0, 100, 50, 14, 14), [0, 0]);
  assert.deepEqual(cellAt(99.9, 49.9, 100, 50, 14, 14), [13, 13]);
  assert.deepEqual(cellAt(50, 10, 100, 50, 5, 4), [1, 2]);
  assert.equal(cellAt(100, 10, 100, 50, 5, 4), null);
  assert.equal(cellAt(-1, 10, 100, 50, 5, 4), null);
});

test("samePosition treats null and [y, x] by value", () => {
  assert.ok(samePosition(null, undefined));
  assert.ok(samePosition([1, 2], [1, 2]));
  assert.ok(!samePosition([1, 2], [2, 1]));
  assert.ok(!samePosition(null, [0, 0]));
});

test("entries: one row of a top-entries payload", () => {
  const top = { index: { shape: [2, 2], values: Int32Array.from([4, 1, 0, 3]) }, value: { shape: [2, 2], values: Float32Array.from([0.5, 0.25, 2, 1]) } };
  assert.deepEqual(entries(top, 1), [{ index: 0, value: 2 }, { index: 3, value: 1 }]);
});

test("rescale maps a cell to the cell of another grid that holds its centre", () => {
  assert.deepEqual(rescale([3, 5], [16, 16], [32, 32]), [7, 11]);
  assert.deepEqual(rescale([7, 11], [32, 32], [16, 16]), [3, 5]);
  assert.deepEqual(rescale([15, 0], [16, 16], [7, 7]), [6, 0]);
  assert.equal(rescale(null, [4, 4], [8, 8]), null);
});

test("a token layer's prefix token p is position [-1, p]: on no grid, and no cell of another layer", () => {
  assert.equal(onGrid([2, 3], 4, 4), true);
  assert.equal(onGrid([-1, 0], 4, 4), false, "a prefix token is not a grid cell");
  assert.equal(onGrid([4, 0], 4, 4), false);
  assert.equal(onGrid(null, 4, 4), false);
  assert.equal(prefixToken([-1, 0], 1), 0);
  assert.equal(prefixToken([-1, 4], 5), 4);
  assert.equal(prefixToken([-1, 1], 1), null, "a layer with one prefix token has no second");
  assert.equal(prefixToken([0, 0], 1), null);
  assert.equal(rescale([-1, 0], [8, 8], [16, 16]), null, "a prefix token has no place on another grid");
});

test("a view's bars are scaled against its largest magnitude, whatever the sign", () => {
  assert.equal(largest(new Float32Array([0.018, -1.91, 0.5])), Math.fround(1.91));
  assert.equal(largest(new Float32Array([0, 0])), 1, "all zero: no division by zero");
});
