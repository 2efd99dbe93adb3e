import { setFlagsFromString } from 'node:v8';

/**
 * V8 lets garbage build up to a multiple of the live heap before it collects the old generation:
 * a run that streams a large package through a few batches at a time holds ≈50–90 MB live, yet the
 * process grew to ≈680 MB at `large` scale. While a run is under way, the heap may grow by only a
 * quarter of what survives each collection (`--heap-growing-percent`), so memory follows what the
 * run really holds. It is a process-wide setting, so it is lifted as soon as the last run ends:
 * request handling outside runs keeps V8's own sizing (it loses throughput under the lean one).
 * A process started with its own --heap-growing-percent is left alone.
 */
export const LEAN_HEAP_GROWING_PERCENT = 25;

export type FlagSetter = (flags: string) => void;

export function leanHeapScope(set: FlagSetter = setFlagsFromString, chosenByOperator = operatorChoseGrowth()) {
  let holders = 0;
  return {
    /** Takes the lean heap for one run; the function it returns gives it back (more than once is harmless). */
    take(): () => void {
      if (chosenByOperator) return () => {};
      if (holders++ === 0) set(`--heap-growing-percent=${LEAN_HEAP_GROWING_PERCENT}`);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        // 0 is V8's default: its own heuristic.
        if (--holders === 0) set('--heap-growing-percent=0');
      };
    },
    /** Runs holding it now. */
    held: () => holders,
  };
}

function operatorChoseGrowth() {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent\b/.test(a));
}

const scope = leanHeapScope();
export const leanHeap = scope.take;
export const leanHeapHolders = scope.held;
