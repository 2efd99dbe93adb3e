import { Migration } from '@mikro-orm/migrations';

export class Migration20261122190622_edfi_ref_deletes extends Migration {

  override name = 'Migration20261122190622_edfi_ref_deletes';

  override up(): void | Promise<void> {
    this.addSql(`create function demographics_keys_removed_fn() returns trigger language plpgsql as \$\$ begin
  update "user" set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = old.sourced_id) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_removed after delete on "demographics" for each row when (old.birth_date is not null) execute function demographics_keys_removed_fn();`);

    this.addSql(`create function academic_session_keys_removed_fn() returns trigger language plpgsql as \$\$ begin
  update class set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (term_sourced_ids[1] = old.sourced_id) and xmin <> pg_current_xact_id()::xid;   update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id in (select sourced_id from class where term_sourced_ids[1] = old.sourced_id)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_removed after delete on "academic_session" for each row execute function academic_session_keys_removed_fn();`);

    this.addSql(`create function class_keys_removed_fn() returns trigger language plpgsql as \$\$ begin
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_removed after delete on "class" for each row execute function class_keys_removed_fn();`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger if exists "keys_removed" on "academic_session";`);
    this.addSql(`drop function if exists "academic_session_keys_removed_fn"();`);

    this.addSql(`drop trigger if exists "keys_removed" on "class";`);
    this.addSql(`drop function if exists "class_keys_removed_fn"();`);

    this.addSql(`drop trigger if exists "keys_removed" on "demographics";`);
    this.addSql(`drop function if exists "demographics_keys_removed_fn"();`);
  }

}
