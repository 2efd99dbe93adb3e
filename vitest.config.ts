import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'standards/**/*.test.ts', 'connectors/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Two cores, one embedded PostgreSQL: each file gets its own database on it.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
