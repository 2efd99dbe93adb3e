import { Migration } from '@mikro-orm/migrations';

/**
 * OneRoster JSON of rows already served, keyed by the row's etag (a changed row has a new etag, so
 * a stale entry is never used). UNLOGGED: it is a cache, rebuilt by reading.
 */
export class Migration20261122021500_oneroster_cache extends Migration {

  override name = 'Migration20261122021500_oneroster_cache';

  override up(): void | Promise<void> {
    this.addSql(`create unlogged table "oneroster_cache" ("resource" text not null, "sourced_id" text not null, "etag" text not null, "json" text not null, primary key ("resource", "sourced_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "oneroster_cache";`);
  }

}
