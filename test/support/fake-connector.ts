import { z } from 'zod';
import type { Connector } from '../../src/sync/connector.ts';
import type { EntityName, RecordBatch } from '../../src/sync/records.ts';
import { smallDistrict } from './roster.ts';

/**
 * A connector for tests: the small district, with a secret token it insists on, an optional delay
 * (to make runs overlap) and a switch to report its listing incomplete.
 */
export const fakeConnector: Connector = {
  kind: 'fake',
  settings: z.object({ token: z.string().min(1), delayMs: z.coerce.number().default(0), complete: z.boolean().default(true), without: z.string().optional() }),
  secrets: ['token'],
  async test(ctx) {
    return `token of ${String(ctx.settings.token).length} characters`;
  },
  async open(ctx) {
    const { delayMs, complete, without } = ctx.settings as { delayMs: number; complete: boolean; without?: string };
    const batches = smallDistrict().map((b) => ({ ...b, records: b.records.filter((r) => r.sourcedId !== without) }));
    return {
      batches: (async function* () {
        for (const batch of batches) {
          if (delayMs) await new Promise((r) => setTimeout(r, delayMs / batches.length));
          yield batch;
        }
      })() as AsyncIterable<RecordBatch>,
      complete: () => (complete ? (['org', 'academicSession', 'course', 'class', 'user', 'enrollment', 'demographics'] as EntityName[]) : []),
    };
  },
};
