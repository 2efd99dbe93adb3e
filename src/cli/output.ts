/** What a CLI command answers with, as indented JSON on stdout. */
export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
