import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

/**
 * Change versions come from one sequence, taken when a row is written, not when its transaction
 * commits: a run's apply can take versions 10–600000 and commit minutes after a single API write
 * took 600001 and committed. A change-query reader told "changes up to 600001" that next asks from
 * 600002 on would never see the run's rows; nor would they see a single write that took 600000 and
 * waited for a row lock while 600001 committed. So every writer first claims the versions from the
 * sequence's current value on, with a transaction-level advisory lock: every session sees it at
 * once, and it goes when the transaction ends, however it ends (a crashed process included). A
 * transaction claims at its start (a run's apply, a purge: `claimChangeVersions`), a statement that
 * writes on its own (an API write) in its first step (`claimCte`). The newest version a reader may
 * sync up to, `settledChangeVersion`, stops below the oldest claim.
 *
 * The lock key is one bigint: the namespace in its top 16 bits, the first claimed version in the
 * other 48 (pg_locks shows it as classid = high 32 bits, objid = low 32 bits, objsubid = 1).
 */

const NAMESPACE = 0x5247; // "RG"

/** Shared: two transactions that start at the same sequence value claim the same key and must not wait for each other. */
const claim = sql`select pg_advisory_xact_lock_shared((${NAMESPACE}::bigint << 48) | last_value) from change_version_seq`;

export async function claimChangeVersions(tx: EntityManager): Promise<void> {
  await claim.execute(tx.getKysely());
}

/**
 * The claim for a statement that writes without a transaction of its own (an API write): its
 * versions are taken from `claim`, so the claim is made before the first of them, and it is held
 * until the statement commits — also while it waits for a row another writer holds, which would
 * otherwise let a reader settle past a version that is yet to land. Usage: `with ${claimCte} …
 * (select nextval('change_version_seq') … from claim)`.
 */
export const claimCte = sql`claim as materialized (${claim})`;

/** The newest change version below every claim still held: all versions up to it are committed or never will be. */
export const settledChangeVersion = () => sql<{ v: string }>`select least(
    case when s.is_called then s.last_value else 0 end,
    (select min(((l.classid::bigint & 65535) << 32) | l.objid::bigint) - 1 from pg_locks l
      where l.locktype = 'advisory' and l.objsubid = 1 and (l.classid::bigint >> 16) = ${NAMESPACE}
        -- pg_locks is the whole server's: claims on another database's sequence are not ours.
        and l.database = (select oid from pg_database where datname = current_database())))::text as v
  from change_version_seq s`;
