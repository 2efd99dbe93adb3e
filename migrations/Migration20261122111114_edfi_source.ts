import { Migration } from '@mikro-orm/migrations';

export class Migration20261122111114_edfi_source extends Migration {

  override name = 'Migration20261122111114_edfi_source';

  override up(): void | Promise<void> {
    this.addSql(`alter table "sync_run" add "checkpoint" jsonb null;`);

    this.addSql(`create index "enrollment_native_key_idx" on "enrollment" ("source_id", "native_key") where "native_key" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "enrollment_native_key_idx";`);

    this.addSql(`alter table "sync_run" drop column "checkpoint";`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
