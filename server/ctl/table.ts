/**
 * Plain-text tables for the operator CLI: columns padded to their widest
 * cell, two spaces apart, the first row taken as the header.
 *
 * @module
 */

/** Renders `rows` (the first one the header) as aligned text lines. */
export function table(rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map((cell) => String(cell ?? "")));
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return cells.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  ).join("\n");
}
