import { Migration } from '@mikro-orm/migrations';

export class Migration20261122030418_edfi extends Migration {

  override name = 'Migration20261122030418_edfi';

  override up(): void | Promise<void> {
    this.addSql(`create table "edfi_document" ("id" uuid not null, "resource" text not null, "natural_key" text not null, "key_values" jsonb not null, "body" jsonb not null, "status" text not null, "change_version" bigint not null, "etag" text not null, "last_modified" timestamptz(3) not null, "content_hash" text not null, primary key ("id"));`);
    this.addSql(`create index "edfi_document_resource_cv_idx" on "edfi_document" ("resource", "change_version");`);
    this.addSql(`alter table "edfi_document" add constraint "edfi_document_key_unique" unique ("resource", "natural_key");`);

    this.addSql(`alter table "org" add "edfi" jsonb null;`);

    this.addSql(`alter table "demographics" add "edfi" jsonb null;`);

    this.addSql(`alter table "academic_session" add "edfi" jsonb null;`);

    this.addSql(`alter table "course" add "edfi" jsonb null;`);

    this.addSql(`alter table "class" add "edfi" jsonb null;`);

    this.addSql(`alter table "user" add "edfi" jsonb null;`);

    this.addSql(`alter table "enrollment" add "edfi" jsonb null;`);

    this.addSql(`alter table "user_role" add "edfi" jsonb null;`);

    // Ed-Fi /keyChanges: each change of a natural key made through a PUT, with the keys before and after.
    this.addSql(`create table "edfi_key_change" ("change_version" bigint not null, "resource" text not null, "id" uuid not null, "old_key_values" jsonb not null, "new_key_values" jsonb not null, primary key ("change_version"));`);
    this.addSql(`create index "edfi_key_change_resource_idx" on "edfi_key_change" ("resource", "change_version");`);

    // The Ed-Fi id of an org (schoolId, localEducationAgencyId are integers): its identifier when
    // that is a number, else a stable 48-bit number from its sourcedId. See docs/mapping.md.
    this.addSql(`create function edfi_org_id(identifier text, sourced_id text) returns bigint
      language sql immutable parallel safe
      return case when identifier ~ '^[0-9]{1,15}$' then identifier::bigint
        else ('x' || substr(md5(sourced_id), 1, 12))::bit(48)::bigint end;`);
    this.addSql(`create index "org_edfi_id_idx" on "org" (edfi_org_id("identifier", "sourced_id"));`);
    // Ed-Fi person ids (studentUniqueId, staffUniqueId) and studentSchoolAssociation ids, looked up by the Ed-Fi door.
    this.addSql(`create index "user_unique_id_idx" on "user" ((coalesce("identifier", "sourced_id")));`);
    this.addSql(`create index "user_role_edfi_id_idx" on "user_role" ((md5('SSA-' || "user_sourced_id" || '-' || "org_sourced_id" || '-' || coalesce(("begin_date" - date '2000-01-01')::text, ''))::uuid));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "org_edfi_id_idx";`);
    this.addSql(`drop index if exists "user_unique_id_idx";`);
    this.addSql(`drop index if exists "user_role_edfi_id_idx";`);
    this.addSql(`drop function if exists edfi_org_id(text, text);`);
    this.addSql(`drop table if exists "edfi_document" cascade;`);
    this.addSql(`drop table if exists "edfi_key_change" cascade;`);

    this.addSql(`alter table "academic_session" drop column "edfi";`);

    this.addSql(`alter table "class" drop column "edfi";`);

    this.addSql(`alter table "course" drop column "edfi";`);

    this.addSql(`alter table "demographics" drop column "edfi";`);

    this.addSql(`alter table "enrollment" drop column "edfi";`);

    this.addSql(`alter table "org" drop column "edfi";`);

    this.addSql(`alter table "user" drop column "edfi";`);

    this.addSql(`alter table "user_role" drop column "edfi";`);
  }

}
