// Pure helpers of the activation atlas view: which cell of a level lies under a point, how
// strongly a cell is drawn for its density, and where an image position lies on the layout.

// {size, where, counts, top, examples} of a level, unpacked, with a (row, col) → cell lookup.
export function indexLevel(level, unpack) {
  const where = unpack(level.where);
  const counts = unpack(level.counts);
  const lookup = new Map();
  for (let m = 0; m < counts.shape[0]; m++) lookup.set(where.values[2 * m] * level.size + where.values[2 * m + 1], m);
  const top = { index: unpack(level.top.index), value: unpack(level.top.value) };
  let max = 1;
  for (const c of counts.values) max = Math.max(max, c);
  // With units: each cell's leading unit (-1: none fires) and its mean code.
  const leading = level.leading ? unpack(level.leading) : null;
  const leadingCode = level.leading_code ? unpack(level.leading_code) : null;
  return { size: level.size, where, counts, top, examples: unpack(level.examples), lookup, max, leading, leadingCode };
}

// The kept cell under a point (px, py) of a side×side canvas, or -1.
export function cellUnder(level, px, py, side) {
  if (px < 0 || py < 0 || px >= side || py >= side) return -1;
  const row = Math.min(level.size - 1, Math.floor((py / side) * level.size));
  const col = Math.min(level.size - 1, Math.floor((px / side) * level.size));
  return level.lookup.get(row * level.size + col) ?? -1;
}

// Opacity for a cell holding `count` of a level whose densest cell holds `max`: log-scaled, and
// never under 0.45, so at the finest zoom (where most cells hold a few vectors) an icon stays
// readable, paler rather than gone.
export function density(count, max) {
  return 0.45 + (0.55 * Math.log1p(count)) / Math.log1p(max);
}

// (x, y) in [0, 1] of position [y, x] of the placed image's (H, W, 2) places, or null.
export function placeOf(places, position) {
  if (!places || !position) return null;
  const [h, w] = places.shape;
  const [y, x] = position;
  if (y < 0 || x < 0 || y >= h || x >= w) return null;
  const i = (y * w + x) * 2;
  return [places.values[i], places.values[i + 1]];
}

// A colour per unit, hues spread by the golden angle so neighbouring indices differ.
export function unitColor(m) {
  return `hsl(${(m * 137.508) % 360}, 75%, 45%)`;
}
