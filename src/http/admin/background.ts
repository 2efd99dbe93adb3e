import { queueRun } from '../../sync/queue.ts';
import { SourceBusyError } from '../../sync/reconcile.ts';
import { syncSource, type SourceDeps } from '../../sync/sources.ts';

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

/**
 * A manual run of a source (admin API, console): started at once, or, while the source is running,
 * queued to start when that run ends (src/sync/queue.ts).
 */
export async function runNow(
  deps: SourceDeps, sourceId: number, onLateError: (runId: number, error: unknown) => void,
): Promise<{ runId: number; queued: boolean } | { finished: true } | { error: unknown }> {
  const outcome = await whenRunStarts((onRun) => syncSource(deps, sourceId, 'manual', undefined, onRun), onLateError);
  if ('error' in outcome && outcome.error instanceof SourceBusyError) return { runId: await queueRun(deps.orm, sourceId, 'manual'), queued: true };
  return 'runId' in outcome ? { runId: outcome.runId, queued: false } : outcome;
}
