import { Migration } from '@mikro-orm/migrations';

export class Migration20261122080041_gradebook extends Migration {

  override name = 'Migration20261122080041_gradebook';

  override up(): void | Promise<void> {
    this.addSql(`create table "category" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "edfi" jsonb null, "metadata" jsonb null, "title" text not null, "weight" double precision null, primary key ("sourced_id"));`);
    this.addSql(`alter table "category" add constraint "category_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "category_status_index" on "category" ("status");`);
    this.addSql(`create index "category_date_last_modified_index" on "category" ("date_last_modified");`);
    this.addSql(`create index "category_change_version_index" on "category" ("change_version");`);
    this.addSql(`create index "category_source_id_index" on "category" ("source_id");`);

    this.addSql(`create table "score_scale" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "edfi" jsonb null, "metadata" jsonb null, "title" text not null, "type" text not null, "org_sourced_id" text null, "course_sourced_id" text null, "class_sourced_id" text not null, "score_scale_value" jsonb not null, primary key ("sourced_id"));`);
    this.addSql(`alter table "score_scale" add constraint "score_scale_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "score_scale_status_index" on "score_scale" ("status");`);
    this.addSql(`create index "score_scale_date_last_modified_index" on "score_scale" ("date_last_modified");`);
    this.addSql(`create index "score_scale_change_version_index" on "score_scale" ("change_version");`);
    this.addSql(`create index "score_scale_source_id_index" on "score_scale" ("source_id");`);
    this.addSql(`create index "score_scale_org_sourced_id_index" on "score_scale" ("org_sourced_id");`);
    this.addSql(`create index "score_scale_course_sourced_id_index" on "score_scale" ("course_sourced_id");`);
    this.addSql(`create index "score_scale_class_sourced_id_index" on "score_scale" ("class_sourced_id");`);

    this.addSql(`create table "line_item" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "edfi" jsonb null, "metadata" jsonb null, "title" text not null, "description" text null, "assign_date" timestamptz(3) not null, "due_date" timestamptz(3) not null, "class_sourced_id" text not null, "school_sourced_id" text not null, "category_sourced_id" text not null, "grading_period_sourced_id" text null, "academic_session_sourced_id" text null, "score_scale_sourced_id" text null, "result_value_min" double precision null, "result_value_max" double precision null, "learning_objective_set" jsonb null, primary key ("sourced_id"));`);
    this.addSql(`alter table "line_item" add constraint "line_item_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "line_item_status_index" on "line_item" ("status");`);
    this.addSql(`create index "line_item_date_last_modified_index" on "line_item" ("date_last_modified");`);
    this.addSql(`create index "line_item_change_version_index" on "line_item" ("change_version");`);
    this.addSql(`create index "line_item_source_id_index" on "line_item" ("source_id");`);
    this.addSql(`create index "line_item_assign_date_index" on "line_item" ("assign_date");`);
    this.addSql(`create index "line_item_due_date_index" on "line_item" ("due_date");`);
    this.addSql(`create index "line_item_class_sourced_id_index" on "line_item" ("class_sourced_id");`);
    this.addSql(`create index "line_item_school_sourced_id_index" on "line_item" ("school_sourced_id");`);
    this.addSql(`create index "line_item_category_sourced_id_index" on "line_item" ("category_sourced_id");`);
    this.addSql(`create index "line_item_grading_period_sourced_id_index" on "line_item" ("grading_period_sourced_id");`);
    this.addSql(`create index "line_item_academic_session_sourced_id_index" on "line_item" ("academic_session_sourced_id");`);
    this.addSql(`create index "line_item_score_scale_sourced_id_index" on "line_item" ("score_scale_sourced_id");`);

    this.addSql(`create table "result" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "edfi" jsonb null, "metadata" jsonb null, "line_item_sourced_id" text not null, "student_sourced_id" text not null, "class_sourced_id" text null, "score_scale_sourced_id" text null, "score_status" text not null, "score" double precision null, "text_score" text null, "score_date" date not null, "comment" text null, "learning_objective_set" jsonb null, "in_progress" boolean null, "incomplete" boolean null, "late" boolean null, "missing" boolean null, primary key ("sourced_id"));`);
    this.addSql(`alter table "result" add constraint "result_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "result_status_index" on "result" ("status");`);
    this.addSql(`create index "result_date_last_modified_index" on "result" ("date_last_modified");`);
    this.addSql(`create index "result_change_version_index" on "result" ("change_version");`);
    this.addSql(`create index "result_source_id_index" on "result" ("source_id");`);
    this.addSql(`create index "result_line_item_sourced_id_index" on "result" ("line_item_sourced_id");`);
    this.addSql(`create index "result_student_sourced_id_index" on "result" ("student_sourced_id");`);
    this.addSql(`create index "result_class_sourced_id_index" on "result" ("class_sourced_id");`);
    this.addSql(`create index "result_score_scale_sourced_id_index" on "result" ("score_scale_sourced_id");`);
    this.addSql(`create index "result_score_status_index" on "result" ("score_status");`);
    this.addSql(`create index "result_score_date_index" on "result" ("score_date");`);
    this.addSql(`create index "result_seen_idx" on "result" ("sourced_id") include ("input_hash", "content_hash", "status", "source_id");`);

    this.addSql(`alter table "category" add constraint "category_source_id_foreign" foreign key ("source_id") references "source" ("id");`);

    this.addSql(`alter table "score_scale" add constraint "score_scale_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "score_scale" add constraint "score_scale_org_sourced_id_foreign" foreign key ("org_sourced_id") references "org" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "score_scale" add constraint "score_scale_course_sourced_id_foreign" foreign key ("course_sourced_id") references "course" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "score_scale" add constraint "score_scale_class_sourced_id_foreign" foreign key ("class_sourced_id") references "class" ("sourced_id");`);

    this.addSql(`alter table "line_item" add constraint "line_item_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "line_item" add constraint "line_item_class_sourced_id_foreign" foreign key ("class_sourced_id") references "class" ("sourced_id");`);
    this.addSql(`alter table "line_item" add constraint "line_item_school_sourced_id_foreign" foreign key ("school_sourced_id") references "org" ("sourced_id");`);
    this.addSql(`alter table "line_item" add constraint "line_item_category_sourced_id_foreign" foreign key ("category_sourced_id") references "category" ("sourced_id");`);
    this.addSql(`alter table "line_item" add constraint "line_item_grading_period_sourced_id_foreign" foreign key ("grading_period_sourced_id") references "academic_session" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "line_item" add constraint "line_item_academic_session_sourced_id_foreign" foreign key ("academic_session_sourced_id") references "academic_session" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "line_item" add constraint "line_item_score_scale_sourced_id_foreign" foreign key ("score_scale_sourced_id") references "score_scale" ("sourced_id") on delete set null;`);

    this.addSql(`alter table "result" add constraint "result_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "result" add constraint "result_line_item_sourced_id_foreign" foreign key ("line_item_sourced_id") references "line_item" ("sourced_id");`);
    this.addSql(`alter table "result" add constraint "result_student_sourced_id_foreign" foreign key ("student_sourced_id") references "user" ("sourced_id");`);
    this.addSql(`alter table "result" add constraint "result_class_sourced_id_foreign" foreign key ("class_sourced_id") references "class" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "result" add constraint "result_score_scale_sourced_id_foreign" foreign key ("score_scale_sourced_id") references "score_scale" ("sourced_id") on delete set null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "line_item" drop constraint "line_item_category_sourced_id_foreign";`);
    this.addSql(`alter table "line_item" drop constraint "line_item_score_scale_sourced_id_foreign";`);
    this.addSql(`alter table "result" drop constraint "result_score_scale_sourced_id_foreign";`);
    this.addSql(`alter table "result" drop constraint "result_line_item_sourced_id_foreign";`);

    this.addSql(`drop table if exists "category" cascade;`);
    this.addSql(`drop table if exists "score_scale" cascade;`);
    this.addSql(`drop table if exists "line_item" cascade;`);
    this.addSql(`drop table if exists "result" cascade;`);

    this.addSql(`drop function if exists "edfi_org_id"(text, text);`);

    this.addSql(`create or replace function "edfi_org_id"("identifier" text, "sourced_id" text) returns bigint security invoker immutable language sql as \$\$ CREATE OR REPLACE FUNCTION public.edfi_org_id(identifier text, sourced_id text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN (identifier ~ '^[0-9]{1,15}\$'::text) THEN (identifier)::bigint ELSE ((('x'::text || substr(md5(sourced_id), 1, 12)))::bit(48))::bigint END \$\$;`);
  }

}
