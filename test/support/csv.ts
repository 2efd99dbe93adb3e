import { fileURLToPath } from 'node:url';

/** Path of a CSV package under test/fixtures/csv. */
export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/csv/${name}`, import.meta.url));
