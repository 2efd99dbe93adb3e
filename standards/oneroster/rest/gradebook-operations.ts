import { sql } from 'kysely';
import type { Access, Operation } from './operations.ts';
import type { ResourceName } from './resources.ts';

/**
 * The GET operations of the OneRoster 1.2 Gradebook service (reference §1.10), as data like the
 * rostering ones. The top-level collections list tombstones too (delta consumers filter on
 * dateLastModified and must see deletions); the routes under a class or school list active rows
 * only, since a consumer reads them as "what this class has now" (Google Classroom checks that a
 * deleted lineItem is gone from them).
 */

export const GRADEBOOK_PATH = '/ims/oneroster/gradebook/v1p2';

const active = sql`t.status = 'active'`;
const classParent = { param: 'classSourcedId', table: 'class', what: 'class' };
const ofClass = (classId: string) => sql`t.line_item_sourced_id in (select l.sourced_id from line_item l where l.class_sourced_id = ${classId})`;

const ops: Omit<Operation, 'kind'>[] = [];
function op(operationId: string, path: string, key: string, resource: ResourceName, access: Access, where: Operation['where'] = () => [], parents?: Operation['parents']) {
  ops.push({ operationId, path, key, resource, access, where, parents });
}

op('getAllCategories', '/categories', 'categories', 'category', 'gradebookCore');
op('getCategory', '/categories/{sourcedId}', 'category', 'category', 'gradebookCore');
op('getAllLineItems', '/lineItems', 'lineItems', 'lineItem', 'gradebookCore');
op('getLineItem', '/lineItems/{sourcedId}', 'lineItem', 'lineItem', 'gradebookCore');
op('getAllResults', '/results', 'results', 'result', 'gradebookCore');
op('getResult', '/results/{sourcedId}', 'result', 'result', 'gradebookCore');
op('getAllScoreScales', '/scoreScales', 'scoreScales', 'scoreScale', 'gradebookCore');
op('getScoreScale', '/scoreScales/{sourcedId}', 'scoreScale', 'scoreScale', 'gradebookCore');
// A category has no class of its own: a class's categories are the ones its lineItems use.
op('getCategoriesForClass', '/classes/{classSourcedId}/categories', 'categories', 'category', 'gradebook', (p) => [
  active, sql`t.sourced_id in (select l.category_sourced_id from line_item l where l.class_sourced_id = ${p.classSourcedId} and l.status = 'active')`,
], [classParent]);
op('getLineItemsForClass', '/classes/{classSourcedId}/lineItems', 'lineItems', 'lineItem', 'gradebook', (p) => [active, sql`t.class_sourced_id = ${p.classSourcedId}`], [classParent]);
op('getResultsForLineItemForClass', '/classes/{classSourcedId}/lineItems/{lineItemSourcedId}/results', 'results', 'result', 'gradebook', (p) => [
  active, sql`t.line_item_sourced_id = ${p.lineItemSourcedId}`, ofClass(p.classSourcedId!),
], [classParent, { param: 'lineItemSourcedId', table: 'line_item', what: 'lineItem' }]);
op('getResultsForClass', '/classes/{classSourcedId}/results', 'results', 'result', 'gradebook', (p) => [active, ofClass(p.classSourcedId!)], [classParent]);
op('getScoreScalesForClass', '/classes/{classSourcedId}/scoreScales', 'scoreScales', 'scoreScale', 'gradebook', (p) => [active, sql`t.class_sourced_id = ${p.classSourcedId}`], [classParent]);
op('getResultsForStudentForClass', '/classes/{classSourcedId}/students/{studentSourcedId}/results', 'results', 'result', 'gradebook', (p) => [
  active, sql`t.student_sourced_id = ${p.studentSourcedId}`, ofClass(p.classSourcedId!),
], [classParent, { param: 'studentSourcedId', table: 'user', what: 'student' }]);
op('getScoreScalesForSchool', '/schools/{schoolSourcedId}/scoreScales', 'scoreScales', 'scoreScale', 'gradebook', (p) => [
  active, sql`(t.org_sourced_id = ${p.schoolSourcedId} or t.class_sourced_id in (select k.sourced_id from class k where k.school_sourced_id = ${p.schoolSourcedId}))`,
], [{ param: 'schoolSourcedId', table: 'org', what: 'school' }]);

export const gradebookOperations: Operation[] = ops.map((o) => ({ ...o, kind: o.path.endsWith('/{sourcedId}') ? 'object' : 'collection' }));
