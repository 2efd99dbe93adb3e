import { Migration } from '@mikro-orm/migrations';

export class Migration20261122204638_edfi_walk_indexes extends Migration {

  override name = 'Migration20261122204638_edfi_walk_indexes';

  override up(): void | Promise<void> {
    this.addSql(`create index "edfi_document_resource_id_idx" on "edfi_document" ("resource", "id");`);
    this.addSql(`create index "edfi_document_seoa_student_idx" on "edfi_document" (("key_values"->>'studentUniqueId')) where "resource" = 'studentEducationOrganizationAssociations';`);

    this.addSql(`create index "demographics_seoa_id_idx" on "demographics" ((md5('SEOA-' || "sourced_id")::uuid));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "demographics_seoa_id_idx";`);

    this.addSql(`drop index "edfi_document_resource_id_idx";`);
    this.addSql(`drop index "edfi_document_seoa_student_idx";`);
  }

}
