import { Migration } from '@mikro-orm/migrations';

export class Migration20261122034957_edfi_staff_assignments extends Migration {

  override name = 'Migration20261122034957_edfi_staff_assignments';

  override up(): void | Promise<void> {
    this.addSql(`create index "user_role_seoaa_id_idx" on "user_role" ((md5('SEOAA-' || "user_sourced_id" || '-' || "org_sourced_id" || '-' || coalesce(("begin_date" - date '2000-01-01')::text, '') || '-' || "role")::uuid));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "user_role_seoaa_id_idx";`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
