import { Migration } from '@mikro-orm/migrations';

/**
 * A studentSchoolAssociation keeps its id through a key change (stored in the role's `edfi.id`),
 * so the index behind id lookups covers that too. (Index expressions are not diffed by name, so
 * this one is written by hand.)
 */
export class Migration20261122042500_ssa_kept_ids extends Migration {
  override name = 'Migration20261122042500_ssa_kept_ids';

  override up(): void | Promise<void> {
    this.addSql(`drop index if exists "user_role_edfi_id_idx";`);
    this.addSql(`create index "user_role_edfi_id_idx" on "user_role" ((coalesce(("edfi"->>'id')::uuid, md5('SSA-' || "user_sourced_id" || '-' || "org_sourced_id" || '-' || coalesce(("begin_date" - date '2000-01-01')::text, ''))::uuid)));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "user_role_edfi_id_idx";`);
    this.addSql(`create index "user_role_edfi_id_idx" on "user_role" ((md5('SSA-' || "user_sourced_id" || '-' || "org_sourced_id" || '-' || coalesce(("begin_date" - date '2000-01-01')::text, ''))::uuid));`);
  }
}
