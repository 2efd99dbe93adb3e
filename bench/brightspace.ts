import { brightspace } from '../connectors/brightspace/index.ts';
import { bigBrightspace, FakeBrightspace } from '../test/msw/brightspace.ts';
import { connectorSyncBench } from './connector-sync.ts';
import type { BenchContext } from './reconcile.ts';

/**
 * Brightspace connector (issue #9): a local fake Brightspace serves a tenant (bookmark pages of 100,
 * an offering's details and enrollments per offering) behind OAuth with rotating refresh tokens.
 * Target: the district scale (20 000 users, 1 500 offerings, 50 000 enrollments) in under 60 s; an
 * unchanged re-sync writes zero rows.
 */

const sizes = {
  small: { users: 2_000, offerings: 150, enrollments: 5_000 },
  district: { users: 20_000, offerings: 1_500, enrollments: 50_000 },
  large: { users: 60_000, offerings: 4_500, enrollments: 150_000 },
} as const;

export async function brightspaceBench(ctx: BenchContext): Promise<string> {
  const size = sizes[ctx.scale];
  return connectorSyncBench(ctx, {
    title: `Brightspace connector, ${ctx.scale} scale`,
    connector: brightspace,
    fake: (base) => {
      const tokenUrl = `${base}core/connect/token`;
      // Credits are D2L's business, not the gateway's cost: the bucket here never runs dry.
      const fake = new FakeBrightspace(base, bigBrightspace(size), { tokenUrl, creditsPerMinute: 1e9 });
      return {
        fetch: fake.fetch, requests: fake.requests, refreshToken: () => fake.refreshToken,
        settings: { baseUrl: fake.base, tokenEndpoint: tokenUrl, clientId: fake.client.id, clientSecret: fake.client.secret, refreshToken: fake.refreshToken },
      };
    },
    notes: ({ requests }) => [
      `A local fake Brightspace (test/msw/brightspace.ts over HTTP) serves ${size.users} users, ${size.offerings} offerings and ${size.enrollments} enrollments; ${requests} requests per run, one at a time.`,
      'Target (issue #9): the district scale in under 60 s; an unchanged re-sync writes zero rows.',
    ],
  });
}
