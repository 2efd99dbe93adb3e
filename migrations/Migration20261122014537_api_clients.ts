import { Migration } from '@mikro-orm/migrations';

export class Migration20261122014537_api_clients extends Migration {

  override name = 'Migration20261122014537_api_clients';

  override up(): void | Promise<void> {
    this.addSql(`create table "api_client" ("client_id" text not null, "name" text not null, "secret_hash" text not null, "scopes" text[] not null, "orgs" text[] null, "created_at" timestamptz(3) not null default now(), "revoked_at" timestamptz(3) null, primary key ("client_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "api_client" cascade;`);
  }

}
