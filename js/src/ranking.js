// Small ranking and indexing helpers on decoded arrays, shared by the views.

// Indices of the k largest of `values` (a typed array or array), largest first.
export function topK(values, k) {
  const order = Array.from(values, (_, i) => i);
  order.sort((i, j) => values[j] - values[i]);
  return order.slice(0, k);
}

// The largest magnitude among `values` (1 when all are 0): what a view's bars are scaled
// against, so a bar means the same length in every cell of the view.
export function largest(values) {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m || 1;
}

// The C-vector of a (C, H, W) cube at one position.
export function column(cube, y, x) {
  const [c, h, w] = cube.shape;
  const out = new Float32Array(c);
  for (let i = 0; i < c; i++) out[i] = cube.values[(i * h + y) * w + x];
  return out;
}

// Row i of a 2-D array, and column j, as typed-array views or copies.
export function row(matrix, i) {
  const n = matrix.shape[1];
  return matrix.values.subarray(i * n, (i + 1) * n);
}

export function col(matrix, j) {
  const [m, n] = matrix.shape;
  const out = new Float32Array(m);
  for (let i = 0; i < m; i++) out[i] = matrix.values[i * n + j];
  return out;
}

// Slice k of a (K, ...) array: the k-th block of its values.
export function slice(array, k) {
  const size = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return array.values.subarray(k * size, (k + 1) * size);
}

// The grid cell under a point of a drawn image: [y, x], or null outside it.
export function cellAt(px, py, width, height, rows, cols) {
  if (px < 0 || py < 0 || px >= width || py >= height) return null;
  return [Math.min(rows - 1, Math.floor((py / height) * rows)), Math.min(cols - 1, Math.floor((px / width) * cols))];
}

// Whether `position` is a cell of a rows × cols grid (a token layer's prefix token is [-1, p]).
export function onGrid(position, rows, cols) {
  return position != null && position[0] >= 0 && position[1] >= 0 && position[0] < rows && position[1] < cols;
}

// p when `position` is prefix token p of `count` ([-1, p]), else null.
export function prefixToken(position, count) {
  return position != null && position[0] === -1 && position[1] >= 0 && position[1] < count ? position[1] : null;
}

export function samePosition(a, b) {
  return (a == null && b == null) || (a != null && b != null && a[0] === b[0] && a[1] === b[1]);
}

// Top entries per row, as sent by Python's payload.top_entries: [{index, value}] for row r.
export function entries(top, r) {
  const n = top.index.shape[1];
  const out = [];
  for (let i = 0; i < n; i++) out.push({ index: top.index.values[r * n + i], value: top.value.values[r * n + i] });
  return out;
}

// The cell of grid `to` ([rows, cols]) whose region holds the centre of `position`'s cell of
// grid `from`: the same place of the image in a layer of another resolution (kernel: compare's
// `rescale`).
export function rescale(position, from, to) {
  if (position == null || position[0] < 0) return null;
  return position.map((p, i) => Math.min(to[i] - 1, Math.floor(((p + 0.5) * to[i]) / from[i])));
}
