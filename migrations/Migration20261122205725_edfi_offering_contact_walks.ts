import { Migration } from '@mikro-orm/migrations';

export class Migration20261122205725_edfi_offering_contact_walks extends Migration {

  override name = 'Migration20261122205725_edfi_offering_contact_walks';

  override up(): void | Promise<void> {
    this.addSql(`create index "class_offering_id_idx" on "class" ((md5('CO-' || "course_sourced_id" || '-' || "school_sourced_id" || '-' || coalesce("term_sourced_ids"[1], ''))::uuid)) where "edfi_key" is null;`);

    this.addSql(`create index "user_with_agents_idx" on "user" ("sourced_id") where "agent_sourced_ids" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "class_offering_id_idx";`);

    this.addSql(`drop index "user_with_agents_idx";`);
  }

}
