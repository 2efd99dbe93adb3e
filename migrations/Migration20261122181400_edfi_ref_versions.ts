import { Migration } from '@mikro-orm/migrations';

export class Migration20261122181400_edfi_ref_versions extends Migration {

  override name = 'Migration20261122181400_edfi_ref_versions';

  override up(): void | Promise<void> {
    this.addSql(`drop index "org_change_version_index";`);
    this.addSql(`alter table "org" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "org_edfi_cv_idx" on "org" ((greatest("change_version", "ref_version")));`);
    this.addSql(`create function org_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  update org set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (parent_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update course set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (org_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(array(select unnest(term_sourced_ids) from class where school_sourced_id = new.sourced_id)) or parent_sourced_id = any(array(select unnest(term_sourced_ids) from class where school_sourced_id = new.sourced_id))) and xmin <> pg_current_xact_id()::xid;   update class set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (school_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id in (select sourced_id from class where school_sourced_id = new.sourced_id)) and xmin <> pg_current_xact_id()::xid;   update "user" set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id in (select user_sourced_id from user_role where org_sourced_id = new.sourced_id)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "org" for each row when ((old.identifier, old.type, null) is distinct from (new.identifier, new.type, null)) execute function org_keys_changed_fn();`);

    this.addSql(`create function demographics_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  update "user" set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "demographics" for each row when ((old.birth_date, null) is distinct from (new.birth_date, null)) execute function demographics_keys_changed_fn();`);
    this.addSql(`create function demographics_keys_added_fn() returns trigger language plpgsql as \$\$ begin
  update "user" set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_added after insert on "demographics" for each row when (new.birth_date is not null) execute function demographics_keys_added_fn();`);

    this.addSql(`drop index "academic_session_change_version_index";`);
    this.addSql(`alter table "academic_session" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "academic_session_edfi_cv_idx" on "academic_session" ((greatest("change_version", "ref_version")));`);
    this.addSql(`create function academic_session_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  update class set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (term_sourced_ids[1] = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id in (select sourced_id from class where term_sourced_ids[1] = new.sourced_id)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "academic_session" for each row when ((old.school_year, old.title, old.start_date, old.edfi_key, null) is distinct from (new.school_year, new.title, new.start_date, new.edfi_key, null)) execute function academic_session_keys_changed_fn();`);

    this.addSql(`drop index "course_change_version_index";`);
    this.addSql(`alter table "course" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "course_edfi_cv_idx" on "course" ((greatest("change_version", "ref_version")));`);
    this.addSql(`create function course_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  update class set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (course_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id in (select sourced_id from class where course_sourced_id = new.sourced_id)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "course" for each row when ((old.course_code, null) is distinct from (new.course_code, null)) execute function course_keys_changed_fn();`);

    this.addSql(`drop index "class_change_version_index";`);
    this.addSql(`alter table "class" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "class_edfi_cv_idx" on "class" ((greatest("change_version", "ref_version")));`);
    this.addSql(`create function class_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  if (old.class_code, old.edfi_key, old.course_sourced_id, old.school_sourced_id, old.term_sourced_ids[1])
      is distinct from (new.class_code, new.edfi_key, new.course_sourced_id, new.school_sourced_id, new.term_sourced_ids[1]) then
    update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   end if;   if (old.school_sourced_id, old.term_sourced_ids) is distinct from (new.school_sourced_id, new.term_sourced_ids) then
    update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids || new.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids || new.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;   end if;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "class" for each row when ((old.class_code, old.edfi_key, old.course_sourced_id, old.school_sourced_id, old.term_sourced_ids, null) is distinct from (new.class_code, new.edfi_key, new.course_sourced_id, new.school_sourced_id, new.term_sourced_ids, null)) execute function class_keys_changed_fn();`);
    this.addSql(`create function class_keys_added_fn() returns trigger language plpgsql as \$\$ begin
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where ((sourced_id = any(new.term_sourced_ids) or parent_sourced_id = any(new.term_sourced_ids))
    and not exists (select 1 from class c where c.school_sourced_id = new.school_sourced_id
      and c.term_sourced_ids && array[academic_session.sourced_id, academic_session.parent_sourced_id] and c.xmin <> pg_current_xact_id()::xid)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_added after insert on "class" for each row execute function class_keys_added_fn();`);

    this.addSql(`drop index "user_change_version_index";`);
    this.addSql(`alter table "user" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "user_edfi_cv_idx" on "user" ((greatest("change_version", "ref_version")));`);
    this.addSql(`create function user_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (user_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   update "user" set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (agent_sourced_ids && array[new.sourced_id]) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create trigger keys_changed after update on "user" for each row when ((old.identifier, null) is distinct from (new.identifier, null)) execute function user_keys_changed_fn();`);

    this.addSql(`drop index "enrollment_change_version_index";`);
    this.addSql(`alter table "enrollment" add "ref_version" bigint null, add "ref_modified" timestamptz(3) null;`);
    this.addSql(`create index "enrollment_edfi_cv_idx" on "enrollment" ((greatest("change_version", "ref_version")));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "academic_session_edfi_cv_idx";`);
    this.addSql(`drop trigger if exists "keys_changed" on "academic_session";`);
    this.addSql(`drop function if exists "academic_session_keys_changed_fn"();`);
    this.addSql(`alter table "academic_session" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "academic_session_change_version_index" on "academic_session" ("change_version");`);

    this.addSql(`drop index "class_edfi_cv_idx";`);
    this.addSql(`drop trigger if exists "keys_changed" on "class";`);
    this.addSql(`drop function if exists "class_keys_changed_fn"();`);
    this.addSql(`drop trigger if exists "keys_added" on "class";`);
    this.addSql(`drop function if exists "class_keys_added_fn"();`);
    this.addSql(`alter table "class" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "class_change_version_index" on "class" ("change_version");`);

    this.addSql(`drop index "course_edfi_cv_idx";`);
    this.addSql(`drop trigger if exists "keys_changed" on "course";`);
    this.addSql(`drop function if exists "course_keys_changed_fn"();`);
    this.addSql(`alter table "course" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "course_change_version_index" on "course" ("change_version");`);

    this.addSql(`drop trigger if exists "keys_changed" on "demographics";`);
    this.addSql(`drop function if exists "demographics_keys_changed_fn"();`);
    this.addSql(`drop trigger if exists "keys_added" on "demographics";`);
    this.addSql(`drop function if exists "demographics_keys_added_fn"();`);

    this.addSql(`drop index "enrollment_edfi_cv_idx";`);
    this.addSql(`alter table "enrollment" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "enrollment_change_version_index" on "enrollment" ("change_version");`);

    this.addSql(`drop index "org_edfi_cv_idx";`);
    this.addSql(`drop trigger if exists "keys_changed" on "org";`);
    this.addSql(`drop function if exists "org_keys_changed_fn"();`);
    this.addSql(`alter table "org" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "org_change_version_index" on "org" ("change_version");`);

    this.addSql(`drop index "user_edfi_cv_idx";`);
    this.addSql(`drop trigger if exists "keys_changed" on "user";`);
    this.addSql(`drop function if exists "user_keys_changed_fn"();`);
    this.addSql(`alter table "user" drop column "ref_version", drop column "ref_modified";`);
    this.addSql(`create index "user_change_version_index" on "user" ("change_version");`);
  }

}
