import { z } from 'zod';
import { orgTypes } from './records.ts';

/** Setting schemas connectors share. */

/** An https URL; plain http only on this machine (tests, benchmarks, a tunnel), so credentials never cross a network in clear. */
export const secureUrl = (description: string) =>
  z.url().describe(description).refine((url) => {
    const u = new URL(url);
    return u.protocol === 'https:' || (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname));
  }, 'must be https (plain http only on this machine)');

export const orgTypeSetting = z.enum(orgTypes);

/** A calendar date setting (YYYY-MM-DD). */
export const daySetting = z.iso.date();

/** A sourcedId prefix: no spaces. */
export const idPrefixSetting = (example: string) => z.string().regex(/^\S+$/, 'no spaces').optional().describe(`Prefix of every sourcedId (default ${example})`);
