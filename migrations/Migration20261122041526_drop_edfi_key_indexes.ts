import { Migration } from '@mikro-orm/migrations';

export class Migration20261122041526_drop_edfi_key_indexes extends Migration {

  override name = 'Migration20261122041526_drop_edfi_key_indexes';

  override up(): void | Promise<void> {
    this.addSql(`drop index "org_edfi_key_index";`);

    this.addSql(`drop index "demographics_edfi_key_index";`);

    this.addSql(`drop index "academic_session_edfi_key_index";`);

    this.addSql(`drop index "course_edfi_key_index";`);

    this.addSql(`drop index "class_edfi_key_index";`);

    this.addSql(`drop index "user_edfi_key_index";`);

    this.addSql(`drop index "enrollment_edfi_key_index";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create index "academic_session_edfi_key_index" on "academic_session" ("edfi_key");`);

    this.addSql(`create index "class_edfi_key_index" on "class" ("edfi_key");`);

    this.addSql(`create index "course_edfi_key_index" on "course" ("edfi_key");`);

    this.addSql(`create index "demographics_edfi_key_index" on "demographics" ("edfi_key");`);

    this.addSql(`create index "enrollment_edfi_key_index" on "enrollment" ("edfi_key");`);

    this.addSql(`create index "org_edfi_key_index" on "org" ("edfi_key");`);

    this.addSql(`create index "user_edfi_key_index" on "user" ("edfi_key");`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
