import { Migration } from '@mikro-orm/migrations';

export class Migration20261123030000_enrollment_student_edfi_id extends Migration {

  override name = 'Migration20261123030000_enrollment_student_edfi_id';

  override up(): void | Promise<void> {
    this.addSql(`create index "enrollment_student_edfi_id_idx" on "enrollment" ("edfi_id") where "role" = 'student';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "enrollment_student_edfi_id_idx";`);
  }

}
