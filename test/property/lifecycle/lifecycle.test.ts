// Model-based lifecycle fuzzing of the real Edge in-process over loopback sockets, on a simulated clock:
// random connects, sends, drops, takeovers, resumes (right, wrong, reflected, unknown), kicks, time, master link drops.
import { describe, expect, it } from 'vitest';
import { FUZZ_MAX_FRAME, startInProcessEdge } from '../../../src/fuzz/in-process.js';
import { formatReport, runLifecycleFuzz } from '../../../src/fuzz/run.js';

const seedEnv = process.env.VOLTLANE_FUZZ_SEED;
const pathEnv = process.env.VOLTLANE_FUZZ_PATH;
const replay = (file: string) => (r: { seed: number; path: string }) =>
  `VOLTLANE_FUZZ_SEED=${r.seed} VOLTLANE_FUZZ_PATH=${r.path} npx vitest run ${file}`;

describe('session lifecycle against the in-process edge', () => {
  for (const missedBufferSize of [3, 0]) {
    it(`keeps every invariant over random command sequences (missed_packets_buffer_size = ${missedBufferSize})`, async () => {
      const report = await runLifecycleFuzz({
        setup: async () => startInProcessEdge({ missedBufferSize, waitMs: 500}),
        numRuns: Number(process.env.VOLTLANE_FUZZ_RUNS ?? 40),
        ...(seedEnv ? { seed: Number(seedEnv) } : {}),
        ...(pathEnv ? { path: pathEnv } : {}),
        maxCommands: 20,
        maxFrameSize: FUZZ_MAX_FRAME,
        replayLine: replay('test/property/lifecycle/lifecycle.test.ts'),
      });
      expect(report.ok, formatReport(report)).toBe(true);
    }, 60_000);
  }

  for (const missedBufferSize of [3, 0]) {
    it(`keeps every invariant across edge restarts (SIGTERM-like stop, new edge on the same state; buffer ${missedBufferSize})`, async () => {
      const report = await runLifecycleFuzz({
        setup: async () => startInProcessEdge({ missedBufferSize, waitMs: 500, restartable: true }),
        numRuns: Number(process.env.VOLTLANE_FUZZ_RUNS ?? 30),
        ...(seedEnv ? { seed: Number(seedEnv) } : {}),
        ...(pathEnv ? { path: pathEnv } : {}),
        maxCommands: 20,
        maxFrameSize: FUZZ_MAX_FRAME,
        restarts: ['restart'],
        replayLine: replay('test/property/lifecycle/lifecycle.test.ts'),
      });
      expect(report.ok, formatReport(report)).toBe(true);
    }, 90_000);
  }
});

// Regression: a resumed connection once stayed in the edge's handshake set (edge.stats().handshaking grew by one
// per resume until limits.max_handshakes_in_flight refused every new connection). Found by the fuzzer as
// `connect, resume(#0, right key)`; the end-of-run leak check covers it in every run above too.
it('leaves no handshake behind after a resume', async () => {
  const report = await runLifecycleFuzz({
    setup: async () => startInProcessEdge({ missedBufferSize: 3, waitMs: 500 }),
    numRuns: 40,
    maxCommands: 20,
    maxFrameSize: FUZZ_MAX_FRAME,
  });
  expect(report.ok, formatReport(report)).toBe(true);
}, 60_000);

// Regression: restored sessions were counted under a placeholder address, so the stale table's "oldest session
// of the biggest holder" evicted a newer session instead of the oldest one. Found by the fuzzer as
// `connect, edgeRestart, connect, connect, edgeRestart` (this seed reaches it within its first runs).
it('evicts the oldest stale session after restarts (sessions keep their client address across processes)', async () => {
  const report = await runLifecycleFuzz({
    setup: async () => startInProcessEdge({ missedBufferSize: 3, waitMs: 500, restartable: true }),
    numRuns: 10,
    seed: 768901724,
    maxCommands: 20,
    maxFrameSize: FUZZ_MAX_FRAME,
    restarts: ['restart'],
  });
  expect(report.ok, formatReport(report)).toBe(true);
}, 60_000);
