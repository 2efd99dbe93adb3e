import { Migration } from '@mikro-orm/migrations';

export class Migration20261122011226_csv_import extends Migration {

  override name = 'Migration20261122011226_csv_import';

  override up(): void | Promise<void> {
    this.addSql(`alter table "sync_issue" add "file" text null, add "line" int null;`);

    this.addSql(`alter table "user_role" add "sourced_id" text null;`);
    this.addSql(`create index "user_role_sourced_id_index" on "user_role" ("sourced_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "sync_issue" drop column "file", drop column "line";`);

    this.addSql(`drop index "user_role_sourced_id_index";`);
    this.addSql(`alter table "user_role" drop column "sourced_id";`);
  }

}
