import { Migration } from '@mikro-orm/migrations';

export class Migration20261122221122_term_school extends Migration {

  override name = 'Migration20261122221122_term_school';

  override up(): void | Promise<void> {
    this.addSql(`create table "term_school" ("term_sourced_id" text not null, "school_sourced_id" text not null, "classes" int not null, primary key ("term_sourced_id", "school_sourced_id"));`);
    this.addSql(`insert into term_school (term_sourced_id, school_sourced_id, classes)
      select t, c.school_sourced_id, count(distinct c.sourced_id) from class c cross join unnest(c.term_sourced_ids) t
      where t is not null and c.school_sourced_id is not null group by 1, 2;`);
    // The class triggers keep it from now on.
    this.addSql(`create or replace function class_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  if (old.class_code, old.edfi_key, old.course_sourced_id, old.school_sourced_id, old.term_sourced_ids[1])
      is distinct from (new.class_code, new.edfi_key, new.course_sourced_id, new.school_sourced_id, new.term_sourced_ids[1]) then
    update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;
  end if;
  if (old.school_sourced_id, old.term_sourced_ids) is distinct from (new.school_sourced_id, new.term_sourced_ids) then
    update term_school set classes = classes - 1
    where school_sourced_id = old.school_sourced_id and term_sourced_id = any(old.term_sourced_ids);
  delete from term_school where classes <= 0 and school_sourced_id = old.school_sourced_id and term_sourced_id = any(old.term_sourced_ids);
    insert into term_school (term_sourced_id, school_sourced_id, classes)
    select distinct t, new.school_sourced_id, 1 from unnest(new.term_sourced_ids) t where t is not null and new.school_sourced_id is not null
    on conflict (term_sourced_id, school_sourced_id) do update set classes = term_school.classes + 1;
    update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids || new.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids || new.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;
  end if;
  return null;
end \$\$;`);
    this.addSql(`create or replace function class_keys_added_fn() returns trigger language plpgsql as \$\$ begin
  insert into term_school (term_sourced_id, school_sourced_id, classes)
    select distinct t, new.school_sourced_id, 1 from unnest(new.term_sourced_ids) t where t is not null and new.school_sourced_id is not null
    on conflict (term_sourced_id, school_sourced_id) do update set classes = term_school.classes + 1;
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where ((sourced_id = any(new.term_sourced_ids) or parent_sourced_id = any(new.term_sourced_ids))
    and not exists (select 1 from class c where c.school_sourced_id = new.school_sourced_id
      and c.term_sourced_ids && array[academic_session.sourced_id, academic_session.parent_sourced_id] and c.xmin <> pg_current_xact_id()::xid)) and xmin <> pg_current_xact_id()::xid;
  return null;
end \$\$;`);
    this.addSql(`create or replace function class_keys_removed_fn() returns trigger language plpgsql as \$\$ begin
  update term_school set classes = classes - 1
    where school_sourced_id = old.school_sourced_id and term_sourced_id = any(old.term_sourced_ids);
  delete from term_school where classes <= 0 and school_sourced_id = old.school_sourced_id and term_sourced_id = any(old.term_sourced_ids);
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;
  return null;
end \$\$;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create or replace function class_keys_changed_fn() returns trigger language plpgsql as \$\$ begin
  if (old.class_code, old.edfi_key, old.course_sourced_id, old.school_sourced_id, old.term_sourced_ids[1])
      is distinct from (new.class_code, new.edfi_key, new.course_sourced_id, new.school_sourced_id, new.term_sourced_ids[1]) then
    update enrollment set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (class_sourced_id = new.sourced_id) and xmin <> pg_current_xact_id()::xid;   end if;   if (old.school_sourced_id, old.term_sourced_ids) is distinct from (new.school_sourced_id, new.term_sourced_ids) then
    update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids || new.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids || new.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;   end if;   return null; end \$\$;`);
    this.addSql(`create or replace function class_keys_added_fn() returns trigger language plpgsql as \$\$ begin
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where ((sourced_id = any(new.term_sourced_ids) or parent_sourced_id = any(new.term_sourced_ids))
    and not exists (select 1 from class c where c.school_sourced_id = new.school_sourced_id
      and c.term_sourced_ids && array[academic_session.sourced_id, academic_session.parent_sourced_id] and c.xmin <> pg_current_xact_id()::xid)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`create or replace function class_keys_removed_fn() returns trigger language plpgsql as \$\$ begin
  update academic_session set ref_version = nextval('change_version_seq'), ref_modified = now()
    where (sourced_id = any(old.term_sourced_ids) or parent_sourced_id = any(old.term_sourced_ids)) and xmin <> pg_current_xact_id()::xid;   return null; end \$\$;`);
    this.addSql(`drop table if exists "term_school" cascade;`);
  }

}
