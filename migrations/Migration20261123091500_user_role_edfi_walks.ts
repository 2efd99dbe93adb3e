import { Migration } from '@mikro-orm/migrations';

export class Migration20261123091500_user_role_edfi_walks extends Migration {

  override name = 'Migration20261123091500_user_role_edfi_walks';

  override up(): void | Promise<void> {
    this.addSql(`alter table "user_role" add "user_edfi_id" uuid null;`);
    this.addSql(`update "user_role" r set "user_edfi_id" = u."edfi_id" from "user" u where u."sourced_id" = r."user_sourced_id";`);
    this.addSql(`create function user_role_user_edfi_id_fn() returns trigger language plpgsql as $$ begin
  new.user_edfi_id := (select u.edfi_id from "user" u where u.sourced_id = new.user_sourced_id);
  return new;
end $$;`);
    this.addSql(`create trigger user_edfi_id before insert or update on "user_role" for each row execute function user_role_user_edfi_id_fn();`);
    this.addSql(`create index "user_role_edfi_student_idx" on "user_role" ("user_edfi_id") where "role" in ('student');`);
    this.addSql(`create index "user_role_edfi_staff_idx" on "user_role" ("user_edfi_id") where "role" in ('teacher', 'aide', 'administrator', 'counselor', 'districtAdministrator', 'siteAdministrator', 'principal', 'systemAdministrator', 'proctor');`);
    this.addSql(`create index "user_role_edfi_contact_idx" on "user_role" ("user_edfi_id") where "role" in ('parent', 'guardian', 'relative');`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger user_edfi_id on "user_role";`);
    this.addSql(`drop function user_role_user_edfi_id_fn();`);
    this.addSql(`alter table "user_role" drop column "user_edfi_id";`);
  }

}
