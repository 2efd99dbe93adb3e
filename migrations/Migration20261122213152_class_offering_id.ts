import { Migration } from '@mikro-orm/migrations';

export class Migration20261122213152_class_offering_id extends Migration {

  override name = 'Migration20261122213152_class_offering_id';

  override up(): void | Promise<void> {
    this.addSql(`alter table "class" add "offering_id" uuid generated always as (case when "edfi_key" is null then md5('CO-' || "course_sourced_id" || '-' || "school_sourced_id" || '-' || coalesce("term_sourced_ids"[1], ''))::uuid end) stored null;`);
    // The offering id is a column now: its index is a plain one (an index-only walk of it).
    this.addSql(`drop index "class_offering_id_idx";`);
    this.addSql(`create index "class_offering_id_idx" on "class" ("offering_id") where "offering_id" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "class_offering_id_idx";`);
    this.addSql(`alter table "class" drop column "offering_id";`);
    this.addSql(`create index "class_offering_id_idx" on "class" ((md5('CO-' || "course_sourced_id" || '-' || "school_sourced_id" || '-' || coalesce("term_sourced_ids"[1], ''))::uuid)) where "edfi_key" is null;`);
  }

}
