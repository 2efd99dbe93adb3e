import { kolibri } from '../connectors/kolibri/index.ts';
import { bigKolibri, FakeKolibri } from '../test/msw/kolibri.ts';
import { connectorSyncBench } from './connector-sync.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Kolibri connector (issue #8): a local fake Kolibri serves one facility (users paged by 500,
 * classrooms, memberships per classroom, learner groups) behind a session login. Target: the
 * district scale (10 000 users, 300 classrooms, 12 000 memberships) in under 30 s; an unchanged
 * re-sync writes zero rows.
 */

const sizes = {
  small: { users: 1_000, classrooms: 30, memberships: 1_200 },
  district: { users: 10_000, classrooms: 300, memberships: 12_000 },
  large: { users: 30_000, classrooms: 900, memberships: 36_000 },
} as const;

export async function kolibriBench(ctx: BenchContext): Promise<string> {
  const size = sizes[ctx.scale];
  return connectorSyncBench(ctx, {
    title: `Kolibri connector, ${ctx.scale} scale`,
    connector: kolibri,
    fake: (base) => {
      const fake = new FakeKolibri(`${base}kolibri/`, bigKolibri(size));
      return { fetch: fake.fetch, requests: fake.requests, settings: { baseUrl: fake.base, username: 'sync-admin', password: 'pw', facilityId: fake.world.facilities[0]!.id } };
    },
    notes: ({ requests }) => [
      `A local fake Kolibri (test/msw/kolibri.ts over HTTP) serves ${size.users} users, ${size.classrooms} classrooms and ${size.memberships} memberships; ${requests} requests per run, one at a time.`,
      'Target (issue #8): the district scale in under 30 s; an unchanged re-sync writes zero rows.',
    ],
  });
}
