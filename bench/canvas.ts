import { canvas } from '../connectors/canvas/index.ts';
import { bigCanvas, FakeCanvas } from '../test/msw/canvas.ts';
import { connectorSyncBench } from './connector-sync.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Canvas connector (issue #7): a local fake Canvas serves a district in pages of 100 (numbered
 * pages, bookmarks for enrollments, Link headers). Target: the district scale (20 000 users,
 * 1 000 courses, 60 000 enrollments) in under 60 s; an unchanged re-sync writes zero rows.
 */

const sizes = {
  small: { users: 2_000, courses: 100, perCourse: 60 },
  district: { users: 20_000, courses: 1_000, perCourse: 60 },
  large: { users: 60_000, courses: 3_000, perCourse: 60 },
} as const;

export async function canvasBench(ctx: BenchContext): Promise<string> {
  const size = sizes[ctx.scale];
  return connectorSyncBench(ctx, {
    title: `Canvas connector, ${ctx.scale} scale`,
    connector: canvas,
    fake: (base) => {
      const fake = new FakeCanvas(base, bigCanvas(size));
      return { fetch: fake.fetch, requests: fake.requests, settings: { baseUrl: base, accountId: '1', accessToken: 'canvas-admin-token' } };
    },
    notes: ({ requests }) => [
      `A local fake Canvas (test/msw/canvas.ts over HTTP) serves ${size.users} users, ${size.courses} courses and ${size.courses * size.perCourse} enrollments in pages of 100; ${requests} requests per full run, one at a time.`,
      'Target (issue #7): the district scale in under 60 s; an unchanged re-sync writes zero rows.',
    ],
  });
}
