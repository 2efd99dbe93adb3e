import { Migration } from '@mikro-orm/migrations';

export class Migration20261122021529_sources extends Migration {

  override name = 'Migration20261122021529_sources';

  override up(): void | Promise<void> {
    this.addSql(`alter table "source" add "secrets" text null, add "schedule" text null, add "timezone" text not null default 'UTC', add "enabled" boolean not null default true, add "updated_at" timestamptz(3) not null default now();`);
    this.addSql(`alter table "source" rename column "config" to "settings";`);

    this.addSql(`alter table "sync_run" add "trigger" text not null default 'manual';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "source" drop column "secrets", drop column "schedule", drop column "timezone", drop column "enabled", drop column "updated_at";`);
    this.addSql(`alter table "source" rename column "settings" to "config";`);

    this.addSql(`alter table "sync_run" drop column "trigger";`);
  }

}
