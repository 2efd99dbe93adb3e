import type { MikroORM } from '@mikro-orm/postgresql';
import type { z } from 'zod';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { RunSummary } from './reconcile.ts';
import type { TokenStore } from './upstream-oauth.ts';
import type { EntityName, RecordBatch } from './records.ts';

/**
 * The connector contract: what a source kind (Canvas, Kolibri, a CSV drop folder, …) provides so
 * the gateway can sync it. A connector reads and maps; it never writes and never decides what to
 * tombstone: it says which entities it listed completely, and the engine does the rest.
 */

export interface SyncContext {
  source: { id: number; name: string };
  /** The source's settings, secrets included, validated against the connector's schema. */
  settings: Record<string, unknown>;
  /** Aborted when the gateway shuts down; a connector stops reading and lets the run end incomplete. */
  signal: AbortSignal;
  /** What started the run: schedule, manual, api, test (a connection test). */
  trigger: string;
  /**
   * The source's OAuth token state (the `refreshToken` secret setting and a cached access token),
   * changed only under a lock across processes: a rotated refresh token is stored in the same
   * transaction that makes it current. The only thing a connector writes, to its own source row.
   */
  tokens: TokenStore;
  logger: Logger;
  config: Config;
  /** For readers that merge into stored state (the CSV reader's delta roles, a partial listing's roles); connectors never write through it. */
  orm: MikroORM;
}

/** One sync of a source, opened. */
export interface SyncPull {
  /** Canonical records, entity by entity in dependency order. */
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  /** Entities listed completely, asked once every batch is in; only those can lose rows. */
  complete(): readonly EntityName[];
  /** Where the next run may start reading changes (an Ed-Fi change version); asked once every batch is in, kept if the run succeeds (lastCheckpoint). */
  checkpoint?(): Record<string, unknown> | undefined;
  /** All or nothing, as CSV packages are imported. */
  atomic?: boolean;
  /** Called with the run's outcome (a drop folder moves the package aside), and on failure with none. */
  finished?(summary: RunSummary | undefined): Promise<void>;
}

export interface Connector {
  kind: string;
  /** Every setting, secrets included. */
  settings: z.ZodObject;
  /** Keys of `settings` that are secret: stored encrypted, never returned or logged. */
  secrets: readonly string[];
  /**
   * Opens a sync; undefined when there is nothing to do (no new package in a drop folder, say).
   * Throwing (or a batch iterator throwing) ReauthorizeError puts the source in the `reauthorize` state.
   */
  open(ctx: SyncContext): Promise<SyncPull | undefined>;
  /** Checks the settings work without syncing; returns what it found, throws what is wrong. */
  test?(ctx: SyncContext): Promise<string>;
}
