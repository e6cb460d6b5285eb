// `npm run fuzz`: the long fuzz runs (test/fuzz), run counts from VOLTLANE_FUZZ_RUNS and friends.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/fuzz/**/*.test.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
