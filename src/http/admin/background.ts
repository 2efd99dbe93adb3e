/**
 * Starts work that creates a sync run and answers as soon as the run exists: `{ runId }` then (the
 * work goes on, and a later failure goes to `onLateError`), `{ finished }` when it ended without a
 * run (nothing to do), `{ error }` when it failed before a run existed.
 */
export async function whenRunStarts(
  work: (onRun: (runId: number) => void) => Promise<unknown>,
  onLateError: (runId: number, error: unknown) => void,
): Promise<{ runId: number } | { finished: true } | { error: unknown }> {
  let started!: (runId: number) => void;
  const runId = new Promise<number>((resolve) => (started = resolve));
  const done = work(started);
  const first = await Promise.race([runId, done.then(() => ({ finished: true as const }), (error: unknown) => ({ error }))]);
  if (typeof first !== 'number') return first;
  done.catch((error: unknown) => onLateError(first, error));
  return { runId: first };
}
