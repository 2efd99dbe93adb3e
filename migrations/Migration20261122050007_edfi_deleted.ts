import { Migration } from '@mikro-orm/migrations';

export class Migration20261122050007_edfi_deleted extends Migration {

  override name = 'Migration20261122050007_edfi_deleted';

  override up(): void | Promise<void> {
    this.addSql(`create table "edfi_deleted" ("change_version" bigint not null, "resource" text not null, "id" uuid not null, "key_values" jsonb not null, "deleted_at" timestamptz(3) not null default now(), primary key ("change_version"));`);
    this.addSql(`create index "edfi_deleted_resource_idx" on "edfi_deleted" ("resource", "change_version");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "edfi_deleted" cascade;`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
