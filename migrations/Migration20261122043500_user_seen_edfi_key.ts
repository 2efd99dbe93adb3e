import { Migration } from '@mikro-orm/migrations';

/**
 * The user covering index also carries edfi_key, so the OneRoster door's "has a role" test for
 * people written through Ed-Fi is answered from the index for every other row. (Index definitions
 * are not diffed by name, so this one is written by hand.)
 */
export class Migration20261122043500_user_seen_edfi_key extends Migration {
  override name = 'Migration20261122043500_user_seen_edfi_key';

  override up(): void | Promise<void> {
    this.addSql(`drop index if exists "user_seen_idx";`);
    this.addSql(`create index "user_seen_idx" on "user" ("sourced_id") include ("input_hash", "content_hash", "status", "source_id", "edfi_key");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "user_seen_idx";`);
    this.addSql(`create index "user_seen_idx" on "user" ("sourced_id") include ("input_hash", "content_hash", "status", "source_id");`);
  }
}
