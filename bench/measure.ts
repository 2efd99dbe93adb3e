export interface Measured<D = unknown> {
  label: string;
  seconds: number;
  rows: number;
  /** Peak resident set size of this process so far (or of the step's own process), in MB. */
  peakRssMb: number;
  detail?: D;
}

/**
 * Times one step; the step reports how many rows it handled, and, when it ran in a process of its
 * own, that process's seconds and peak RSS.
 */
export async function measure<D>(label: string, step: () => Promise<{ rows: number; seconds?: number; peakRssMb?: number } & D>): Promise<Measured<D>> {
  const start = process.hrtime.bigint();
  const result = await step();
  const seconds = result.seconds ?? Number(process.hrtime.bigint() - start) / 1e9;
  const peakRssMb = result.peakRssMb ?? process.resourceUsage().maxRSS / 1024;
  console.log(`${label}: ${seconds.toFixed(2)} s, ${result.rows} rows`);
  return { label, seconds, rows: result.rows, peakRssMb, detail: result };
}

/** The benchmark's result as a Markdown table, each step as a ratio to the baseline. */
export function markdownTable(title: string, steps: Measured[], baseline: Measured, notes: string[]): string {
  const lines = [
    `### ${title}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${process.platform}/${process.arch}, Node ${process.version}.`,
    '',
    '| step | rows | seconds | rows/s | × baseline | peak RSS (MB) |',
    '|---|---:|---:|---:|---:|---:|',
    ...steps.map(
      (s) =>
        `| ${s.label} | ${s.rows.toLocaleString('en')} | ${s.seconds.toFixed(2)} | ${Math.round(s.rows / s.seconds).toLocaleString('en')} | ${(s.seconds / baseline.seconds).toFixed(2)} | ${Math.round(s.peakRssMb)} |`,
    ),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ];
  return lines.join('\n');
}
