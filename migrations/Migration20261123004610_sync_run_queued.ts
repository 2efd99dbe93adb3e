import { Migration } from '@mikro-orm/migrations';

export class Migration20261123004610_sync_run_queued extends Migration {

  override name = 'Migration20261123004610_sync_run_queued';

  override up(): void | Promise<void> {
    this.addSql(`create unique index "sync_run_queued_idx" on "sync_run" ("source_id") where "status" = 'queued';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "sync_run_queued_idx";`);
  }

}
