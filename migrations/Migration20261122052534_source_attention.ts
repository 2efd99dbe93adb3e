import { Migration } from '@mikro-orm/migrations';

export class Migration20261122052534_source_attention extends Migration {

  override name = 'Migration20261122052534_source_attention';

  override up(): void | Promise<void> {
    this.addSql(`alter table "source" add "needs_attention" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "source" drop column "needs_attention";`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
