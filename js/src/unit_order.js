// Search and sort of the unit browser's rows ({unit, label, iou, peak}), kept pure for tests.

// Rows ordered by "unit" (ascending), "iou" or "peak" (descending; units without an IoU last).
export function order(rows, key) {
  const sorted = [...rows];
  if (key === "unit") return sorted.sort((a, b) => a.unit - b.unit);
  const value = (row) => (row[key] == null ? -Infinity : row[key]);
  return sorted.sort((a, b) => value(b) - value(a) || a.unit - b.unit);
}

// A row matches a query by its label (case-insensitive substring) or, for a number, its unit.
export function matches(row, query) {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  if (/^\d+$/.test(q)) return row.unit === Number(q);
  return (row.label || "").toLowerCase().includes(q);
}
