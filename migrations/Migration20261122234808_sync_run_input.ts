import { Migration } from '@mikro-orm/migrations';

export class Migration20261122234808_sync_run_input extends Migration {

  override name = 'Migration20261122234808_sync_run_input';

  override up(): void | Promise<void> {
    this.addSql(`alter table "sync_run" add "input" text null, add "end_state" text null, add "same_as" bigint null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "sync_run" drop column "input", drop column "end_state", drop column "same_as";`);
  }

}
