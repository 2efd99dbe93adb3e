import { Migration } from '@mikro-orm/migrations';

export class Migration20261122062023_console_admins extends Migration {

  override name = 'Migration20261122062023_console_admins';

  override up(): void | Promise<void> {
    this.addSql(`create table "admin_account" ("id" serial primary key, "username" text not null, "password_hash" text not null, "failed_attempts" int not null default 0, "locked_until" timestamptz(3) null, "created_at" timestamptz(3) not null default now());`);
    this.addSql(`alter table "admin_account" add constraint "admin_account_username_unique" unique ("username");`);

    this.addSql(`create table "admin_session" ("token_hash" text not null, "account_id" int not null, "csrf_token" text not null, "expires_at" timestamptz(3) not null, "created_at" timestamptz(3) not null default now(), primary key ("token_hash"));`);
    this.addSql(`create index "admin_session_account_id_index" on "admin_session" ("account_id");`);

    this.addSql(`alter table "admin_session" add constraint "admin_session_account_id_foreign" foreign key ("account_id") references "admin_account" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "admin_session" drop constraint "admin_session_account_id_foreign";`);

    this.addSql(`drop table if exists "admin_account" cascade;`);
    this.addSql(`drop table if exists "admin_session" cascade;`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
