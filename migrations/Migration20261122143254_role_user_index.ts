import { Migration } from '@mikro-orm/migrations';

export class Migration20261122143254_role_user_index extends Migration {

  override name = 'Migration20261122143254_role_user_index';

  override up(): void | Promise<void> {
    this.addSql(`create index "user_role_role_user_idx" on "user_role" ("role", "user_sourced_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "user_role_role_user_idx";`);
  }

}
