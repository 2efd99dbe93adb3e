import { Migration } from '@mikro-orm/migrations';

export class Migration20261122005446_shared_schema extends Migration {

  override name = 'Migration20261122005446_shared_schema';

  override up(): void | Promise<void> {
    // One global change version for every canonical row (Ed-Fi change queries, OneRoster deltas).
    this.addSql(`create sequence "change_version_seq" as bigint;`);
    // Every id a sync run's batch carried (see src/sync/stage.ts): written and read in bulk,
    // unindexed, unlogged because re-running a sync rebuilds it.
    this.addSql(`create unlogged table "sync_seen" ("run_id" bigint not null, "entity" text not null, "sourced_ids" text[] not null);`);
    this.addSql(`create table "source" ("id" serial primary key, "name" text not null, "kind" text not null, "config" jsonb null, "created_at" timestamptz(3) not null default now());`);
    this.addSql(`alter table "source" add constraint "source_name_unique" unique ("name");`);

    this.addSql(`create table "org" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "name" text not null, "type" text not null, "identifier" text null, "parent_sourced_id" text null, primary key ("sourced_id"));`);
    this.addSql(`alter table "org" add constraint "org_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "org_status_index" on "org" ("status");`);
    this.addSql(`create index "org_date_last_modified_index" on "org" ("date_last_modified");`);
    this.addSql(`create index "org_change_version_index" on "org" ("change_version");`);
    this.addSql(`create index "org_source_id_index" on "org" ("source_id");`);
    this.addSql(`create index "org_edfi_key_index" on "org" ("edfi_key");`);
    this.addSql(`create index "org_type_index" on "org" ("type");`);
    this.addSql(`create index "org_identifier_index" on "org" ("identifier");`);
    this.addSql(`create index "org_parent_sourced_id_index" on "org" ("parent_sourced_id");`);

    this.addSql(`create table "demographics" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "birth_date" date null, "sex" text null, "american_indian_or_alaska_native" boolean null, "asian" boolean null, "black_or_african_american" boolean null, "native_hawaiian_or_other_pacific_islander" boolean null, "white" boolean null, "demographic_race_two_or_more_races" boolean null, "hispanic_or_latino_ethnicity" boolean null, "country_of_birth_code" text null, "state_of_birth_abbreviation" text null, "city_of_birth" text null, "public_school_residence_status" text null, primary key ("sourced_id"));`);
    this.addSql(`alter table "demographics" add constraint "demographics_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "demographics_status_index" on "demographics" ("status");`);
    this.addSql(`create index "demographics_date_last_modified_index" on "demographics" ("date_last_modified");`);
    this.addSql(`create index "demographics_change_version_index" on "demographics" ("change_version");`);
    this.addSql(`create index "demographics_source_id_index" on "demographics" ("source_id");`);
    this.addSql(`create index "demographics_edfi_key_index" on "demographics" ("edfi_key");`);

    this.addSql(`create table "academic_session" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "title" text not null, "type" text not null, "start_date" date not null, "end_date" date not null, "parent_sourced_id" text null, "school_year" text not null, primary key ("sourced_id"));`);
    this.addSql(`alter table "academic_session" add constraint "academic_session_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "academic_session_status_index" on "academic_session" ("status");`);
    this.addSql(`create index "academic_session_date_last_modified_index" on "academic_session" ("date_last_modified");`);
    this.addSql(`create index "academic_session_change_version_index" on "academic_session" ("change_version");`);
    this.addSql(`create index "academic_session_source_id_index" on "academic_session" ("source_id");`);
    this.addSql(`create index "academic_session_edfi_key_index" on "academic_session" ("edfi_key");`);
    this.addSql(`create index "academic_session_type_index" on "academic_session" ("type");`);
    this.addSql(`create index "academic_session_parent_sourced_id_index" on "academic_session" ("parent_sourced_id");`);
    this.addSql(`create index "academic_session_school_year_index" on "academic_session" ("school_year");`);

    this.addSql(`create table "course" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "title" text not null, "course_code" text null, "school_year_sourced_id" text null, "grades" text[] null, "subjects" text[] null, "subject_codes" text[] null, "org_sourced_id" text null, primary key ("sourced_id"));`);
    this.addSql(`alter table "course" add constraint "course_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "course_status_index" on "course" ("status");`);
    this.addSql(`create index "course_date_last_modified_index" on "course" ("date_last_modified");`);
    this.addSql(`create index "course_change_version_index" on "course" ("change_version");`);
    this.addSql(`create index "course_source_id_index" on "course" ("source_id");`);
    this.addSql(`create index "course_edfi_key_index" on "course" ("edfi_key");`);
    this.addSql(`create index "course_school_year_sourced_id_index" on "course" ("school_year_sourced_id");`);
    this.addSql(`create index "course_org_sourced_id_index" on "course" ("org_sourced_id");`);

    this.addSql(`create table "class" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "title" text not null, "class_code" text null, "class_type" text null, "location" text null, "course_sourced_id" text not null, "school_sourced_id" text not null, "term_sourced_ids" text[] not null, "grades" text[] null, "subjects" text[] null, "subject_codes" text[] null, "periods" text[] null, primary key ("sourced_id"));`);
    this.addSql(`alter table "class" add constraint "class_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "class_status_index" on "class" ("status");`);
    this.addSql(`create index "class_date_last_modified_index" on "class" ("date_last_modified");`);
    this.addSql(`create index "class_change_version_index" on "class" ("change_version");`);
    this.addSql(`create index "class_source_id_index" on "class" ("source_id");`);
    this.addSql(`create index "class_edfi_key_index" on "class" ("edfi_key");`);
    this.addSql(`create index "class_class_type_index" on "class" ("class_type");`);
    this.addSql(`create index "class_course_sourced_id_index" on "class" ("course_sourced_id");`);
    this.addSql(`create index "class_school_sourced_id_index" on "class" ("school_sourced_id");`);
    this.addSql(`create index "class_term_sourced_ids_gin" on "class" using gin ("term_sourced_ids");`);

    this.addSql(`create table "sync_run" ("id" bigserial primary key, "source_id" int not null, "mode" text not null, "status" text not null, "complete" boolean not null default false, "bulk_scope" text[] null, "started_at" timestamptz(3) not null default now(), "finished_at" timestamptz(3) null, "counts" jsonb null, "hold_reason" text null, "error" text null);`);
    this.addSql(`create index "sync_run_source_id_index" on "sync_run" ("source_id");`);
    this.addSql(`create index "sync_run_status_index" on "sync_run" ("status");`);

    this.addSql(`create table "sync_issue" ("id" bigserial primary key, "run_id" bigint not null, "entity" text not null, "sourced_id" text null, "field" text null, "severity" text not null, "code" text not null, "message" text not null);`);
    this.addSql(`create index "sync_issue_run_id_index" on "sync_issue" ("run_id");`);

    this.addSql(`create table "user" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "enabled_user" boolean not null, "username" text null, "user_ids" jsonb null, "given_name" text not null, "family_name" text not null, "middle_name" text null, "preferred_first_name" text null, "preferred_middle_name" text null, "preferred_last_name" text null, "pronouns" text null, "identifier" text null, "email" text null, "sms" text null, "phone" text null, "agent_sourced_ids" text[] null, "grades" text[] null, "user_master_identifier" text null, "primary_org_sourced_id" text null, primary key ("sourced_id"));`);
    this.addSql(`alter table "user" add constraint "user_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "user_status_index" on "user" ("status");`);
    this.addSql(`create index "user_date_last_modified_index" on "user" ("date_last_modified");`);
    this.addSql(`create index "user_change_version_index" on "user" ("change_version");`);
    this.addSql(`create index "user_source_id_index" on "user" ("source_id");`);
    this.addSql(`create index "user_edfi_key_index" on "user" ("edfi_key");`);
    this.addSql(`create index "user_username_index" on "user" ("username");`);
    this.addSql(`create index "user_given_name_index" on "user" ("given_name");`);
    this.addSql(`create index "user_family_name_index" on "user" ("family_name");`);
    this.addSql(`create index "user_identifier_index" on "user" ("identifier");`);
    this.addSql(`create index "user_email_index" on "user" ("email");`);
    this.addSql(`create index "user_primary_org_sourced_id_index" on "user" ("primary_org_sourced_id");`);
    this.addSql(`create index "user_agent_sourced_ids_gin" on "user" using gin ("agent_sourced_ids");`);

    this.addSql(`create table "enrollment" ("sourced_id" text not null, "edfi_id" uuid not null, "status" text not null, "date_last_modified" timestamptz(3) not null, "etag" text not null, "change_version" bigint not null, "content_hash" text not null, "input_hash" text null, "source_id" int not null, "native_key" text null, "edfi_key" jsonb null, "metadata" jsonb null, "class_sourced_id" text not null, "school_sourced_id" text not null, "user_sourced_id" text not null, "role" text not null, "primary" boolean null, "begin_date" date null, "end_date" date null, primary key ("sourced_id"));`);
    this.addSql(`alter table "enrollment" add constraint "enrollment_edfi_id_unique" unique ("edfi_id");`);
    this.addSql(`create index "enrollment_status_index" on "enrollment" ("status");`);
    this.addSql(`create index "enrollment_date_last_modified_index" on "enrollment" ("date_last_modified");`);
    this.addSql(`create index "enrollment_change_version_index" on "enrollment" ("change_version");`);
    this.addSql(`create index "enrollment_source_id_index" on "enrollment" ("source_id");`);
    this.addSql(`create index "enrollment_edfi_key_index" on "enrollment" ("edfi_key");`);
    this.addSql(`create index "enrollment_class_sourced_id_index" on "enrollment" ("class_sourced_id");`);
    this.addSql(`create index "enrollment_school_sourced_id_index" on "enrollment" ("school_sourced_id");`);
    this.addSql(`create index "enrollment_user_sourced_id_index" on "enrollment" ("user_sourced_id");`);
    this.addSql(`create index "enrollment_role_index" on "enrollment" ("role");`);

    this.addSql(`create table "user_profile" ("id" bigserial primary key, "user_sourced_id" text not null, "profile_id" text not null, "profile_type" text not null, "vendor_id" text not null, "application_id" text null, "description" text null, "credentials" jsonb null);`);
    this.addSql(`create index "user_profile_user_sourced_id_index" on "user_profile" ("user_sourced_id");`);

    this.addSql(`create table "user_role" ("id" bigserial primary key, "user_sourced_id" text not null, "role_type" text not null, "role" text not null, "org_sourced_id" text not null, "user_profile" text null, "begin_date" date null, "end_date" date null);`);
    this.addSql(`create index "user_role_user_sourced_id_index" on "user_role" ("user_sourced_id");`);
    this.addSql(`create index "user_role_org_sourced_id_index" on "user_role" ("org_sourced_id");`);
    this.addSql(`create index "user_role_role_org_idx" on "user_role" ("role", "org_sourced_id");`);

    this.addSql(`alter table "org" add constraint "org_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "org" add constraint "org_parent_sourced_id_foreign" foreign key ("parent_sourced_id") references "org" ("sourced_id") on delete set null;`);

    this.addSql(`alter table "demographics" add constraint "demographics_source_id_foreign" foreign key ("source_id") references "source" ("id");`);

    this.addSql(`alter table "academic_session" add constraint "academic_session_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "academic_session" add constraint "academic_session_parent_sourced_id_foreign" foreign key ("parent_sourced_id") references "academic_session" ("sourced_id") on delete set null;`);

    this.addSql(`alter table "course" add constraint "course_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "course" add constraint "course_school_year_sourced_id_foreign" foreign key ("school_year_sourced_id") references "academic_session" ("sourced_id") on delete set null;`);
    this.addSql(`alter table "course" add constraint "course_org_sourced_id_foreign" foreign key ("org_sourced_id") references "org" ("sourced_id") on delete set null;`);

    this.addSql(`alter table "class" add constraint "class_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "class" add constraint "class_course_sourced_id_foreign" foreign key ("course_sourced_id") references "course" ("sourced_id");`);
    this.addSql(`alter table "class" add constraint "class_school_sourced_id_foreign" foreign key ("school_sourced_id") references "org" ("sourced_id");`);

    this.addSql(`alter table "sync_run" add constraint "sync_run_source_id_foreign" foreign key ("source_id") references "source" ("id");`);

    this.addSql(`alter table "sync_issue" add constraint "sync_issue_run_id_foreign" foreign key ("run_id") references "sync_run" ("id") on delete cascade;`);

    this.addSql(`alter table "user" add constraint "user_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "user" add constraint "user_primary_org_sourced_id_foreign" foreign key ("primary_org_sourced_id") references "org" ("sourced_id") on delete set null;`);

    this.addSql(`alter table "enrollment" add constraint "enrollment_source_id_foreign" foreign key ("source_id") references "source" ("id");`);
    this.addSql(`alter table "enrollment" add constraint "enrollment_class_sourced_id_foreign" foreign key ("class_sourced_id") references "class" ("sourced_id");`);
    this.addSql(`alter table "enrollment" add constraint "enrollment_school_sourced_id_foreign" foreign key ("school_sourced_id") references "org" ("sourced_id");`);
    this.addSql(`alter table "enrollment" add constraint "enrollment_user_sourced_id_foreign" foreign key ("user_sourced_id") references "user" ("sourced_id");`);

    this.addSql(`alter table "user_profile" add constraint "user_profile_user_sourced_id_foreign" foreign key ("user_sourced_id") references "user" ("sourced_id") on delete cascade;`);

    this.addSql(`alter table "user_role" add constraint "user_role_user_sourced_id_foreign" foreign key ("user_sourced_id") references "user" ("sourced_id") on delete cascade;`);
    this.addSql(`alter table "user_role" add constraint "user_role_org_sourced_id_foreign" foreign key ("org_sourced_id") references "org" ("sourced_id");`);
  }

}
