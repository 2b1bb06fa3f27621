// Colour maps. Pure functions from numbers to RGBA bytes, so node can test them; the views
// put the bytes on canvases.

export const ORANGE = [255, 127, 14]; // the first class of a pair, and positive attribution
export const BLUE = [31, 119, 180]; // the second class, and negative attribution
export const FLOW = [148, 52, 200]; // what a hovered cell fed or was fed by
export const OTHER = [150, 150, 150]; // a class that is neither of a chosen pair

export function css([r, g, b], alpha = 1) {
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

export function maxAbs(values) {
  let m = 0;
  for (const v of values) if (Math.abs(v) > m) m = Math.abs(v);
  return m;
}

// One colour, opacity proportional to the positive part of each value (scaled by `max`).
export function heat(values, rgb, max = maxAbs(values)) {
  const out = new Uint8ClampedArray(values.length * 4);
  const scale = max > 0 ? 1 / max : 0;
  for (let i = 0; i < values.length; i++) {
    out.set(rgb, i * 4);
    out[i * 4 + 3] = Math.round(255 * Math.min(1, Math.max(0, values[i] * scale)));
  }
  return out;
}

// Two maps in one: each cell takes the colour of whichever map is larger there, with that
// map's opacity; `max` is shared, so the two are comparable.
export function pairHeat(a, b, max = Math.max(maxAbs(a), maxAbs(b))) {
  const out = new Uint8ClampedArray(a.length * 4);
  const scale = max > 0 ? 1 / max : 0;
  for (let i = 0; i < a.length; i++) {
    const first = a[i] >= b[i];
    out.set(first ? ORANGE : BLUE, i * 4);
    out[i * 4 + 3] = Math.round(255 * Math.min(1, Math.max(0, (first ? a[i] : b[i]) * scale)));
  }
  return out;
}

// Group masks (k × cells, in [0, 1]) composited: each cell gets the colour of its strongest
// group, at that group's strength; `only` keeps one group.
export function groupMasks(masks, k, colors, only = null) {
  const cells = masks.length / k;
  const out = new Uint8ClampedArray(cells * 4);
  for (let p = 0; p < cells; p++) {
    let best = -1;
    let strength = 0;
    for (let g = 0; g < k; g++) {
      if (only !== null && g !== only) continue;
      const v = masks[g * cells + p];
      if (v > strength) [best, strength] = [g, v];
    }
    if (best < 0) continue;
    out.set(colors.slice(best * 3, best * 3 + 3), p * 4);
    out[p * 4 + 3] = Math.round(255 * Math.min(1, strength));
  }
  return out;
}
