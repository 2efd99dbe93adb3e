import { Migration } from '@mikro-orm/migrations';

export class Migration20261122024049_seen_indexes extends Migration {

  override name = 'Migration20261122024049_seen_indexes';

  override up(): void | Promise<void> {
    this.addSql(`create index "user_seen_idx" on "user" ("sourced_id") include ("input_hash", "content_hash", "status", "source_id");`);

    this.addSql(`create index "enrollment_seen_idx" on "enrollment" ("sourced_id") include ("input_hash", "content_hash", "status", "source_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "enrollment_seen_idx";`);

    this.addSql(`drop index "user_seen_idx";`);
  }

}
