/** One CSV line (RFC 4180): fields quoted when they hold a comma, quote, line break or edge spaces. */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map((c) => (/[",\r\n]|^\s|\s$/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(',')}\r\n`;
}
