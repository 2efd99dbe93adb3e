import type { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { claimChangeVersions } from './change-claims.ts';
import { entitySpecs } from './entities.ts';

/**
 * Purges tombstones older than the retention window. A delta consumer that syncs within the window
 * still sees every deletion; older tombstones go. Children go before parents, and a tombstone some
 * live row still points at stays until that row is gone too (a foreign key would refuse it anyway).
 */
export async function purgeTombstones(orm: MikroORM, days: number): Promise<Record<string, number>> {
  const purged: Record<string, number> = {};
  await orm.em.fork().transactional(async (tx) => {
    // Purging moves the reference stamps of documents that showed the purged rows.
    await claimChangeVersions(tx);
    const db = tx.getKysely();
    for (const spec of [...entitySpecs].reverse()) {
      const referrers = entitySpecs.flatMap((other) => other.refs.filter((r) => r.target === spec.name && r.path.kind !== 'array').map((r) => {
        if (r.path.kind === 'child') {
          const child = other.children.find((c) => c.field === (r.path as { child: string }).child)!;
          return sql`not exists (select 1 from ${sql.table(child.table)} x where x.${sql.ref(r.path.column)} = t.sourced_id)`;
        }
        // A row's reference to itself (an org's parent, demographics sharing the user's id) does not count.
        const self = other.table === spec.table || r.path.column === 'sourced_id' ? sql`and x.sourced_id <> t.sourced_id` : sql``;
        return sql`not exists (select 1 from ${sql.table(other.table)} x where x.${sql.ref(r.path.column)} = t.sourced_id ${self})`;
      }));
      const result = await sql`delete from ${sql.table(spec.table)} t where t.status = 'tobedeleted'
        and t.date_last_modified < now() - make_interval(days => ${days})
        ${referrers.length ? sql`and ${sql.join(referrers, sql` and `)}` : sql``}`.execute(db);
      purged[spec.name] = Number(result.numAffectedRows ?? 0);
    }
  });
  return purged;
}
