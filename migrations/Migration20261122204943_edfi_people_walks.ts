import { Migration } from '@mikro-orm/migrations';

export class Migration20261122204943_edfi_people_walks extends Migration {

  override name = 'Migration20261122204943_edfi_people_walks';

  override up(): void | Promise<void> {
    this.addSql(`create index "user_edfi_student_idx" on "user" ("edfi_id") where "edfi_key" ? 'studentUniqueId';`);
    this.addSql(`create index "user_edfi_staff_idx" on "user" ("edfi_id") where "edfi_key" ? 'staffUniqueId';`);
    this.addSql(`create index "user_edfi_contact_idx" on "user" ("edfi_id") where "edfi_key" ? 'contactUniqueId';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "user_edfi_student_idx";`);
    this.addSql(`drop index "user_edfi_staff_idx";`);
    this.addSql(`drop index "user_edfi_contact_idx";`);
  }

}
