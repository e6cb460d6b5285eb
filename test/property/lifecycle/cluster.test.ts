// Model-based lifecycle fuzzing of a cluster: three real in-process edges sharing one cluster store and one
// simulated clock, each with its own master link. Clients start and resume on random edges (takeovers across
// edges), the master routes by id as voltlane/master does and sometimes sends to an edge a session left, edges
// are killed, stopped and replaced; every invariant of PROTOCOL.md and of the cluster (README "Running a cluster",
// DESIGN.md "Cluster") is checked after each step.
import { describe, expect, it } from 'vitest';
import { FUZZ_MAX_FRAME } from '../../../src/fuzz/in-process.js';
import { startInProcessCluster } from '../../../src/fuzz/multi-edge.js';
import { formatReport, runLifecycleFuzz } from '../../../src/fuzz/run.js';

const seedEnv = process.env.VOLTLANE_FUZZ_SEED;
const pathEnv = process.env.VOLTLANE_FUZZ_PATH;
const replay = (r: { seed: number; path: string }) =>
  `VOLTLANE_FUZZ_SEED=${r.seed} VOLTLANE_FUZZ_PATH=${r.path} npx vitest run test/property/lifecycle/cluster.test.ts`;

describe('session lifecycle across a cluster of in-process edges', () => {
  for (const [edges, missedBufferSize, seed] of [
    [3, 3, 1401],
    [2, 1, 1402],
  ] as const) {
    it(`keeps every invariant with ${edges} edges (missed_packets_buffer_size = ${missedBufferSize})`, async () => {
      const report = await runLifecycleFuzz({
        setup: async () => startInProcessCluster({ edges, missedBufferSize, waitMs: 500 }),
        numRuns: Number(process.env.VOLTLANE_FUZZ_RUNS ?? (edges === 3 ? 60 : 40)),
        seed: seedEnv ? Number(seedEnv) : seed,
        ...(pathEnv ? { path: pathEnv } : {}),
        maxCommands: 25,
        maxSessions: 5,
        maxFrameSize: FUZZ_MAX_FRAME,
        edges,
        replayLine: replay,
      });
      expect(report.ok, formatReport(report)).toBe(true);
    }, 120_000);
  }
});

// Regression: master data forwarded to the session's new edge after the session ended there (an earlier
// forwarded packet had crossed a move and ended it) was dropped without the Failure "unknown client" that
// PROTOCOL.md sec. 5 promises for every packet for an ended id. Found as `connect(edge 0), resume(#0 on edge 1),
// masterSend(#0), masterSendLate(#0, 2)`.
it('answers master data forwarded after the session ended with a Failure', async () => {
  const report = await runLifecycleFuzz({
    setup: async () => startInProcessCluster({ edges: 3, missedBufferSize: 3, waitMs: 500 }),
    numRuns: 1,
    seed: 4242,
    path: '170:3:4:7:5:5:5:5:5:6:6:6',
    replayPath: 'AHGIv:V',
    maxCommands: 25,
    maxSessions: 5,
    maxFrameSize: FUZZ_MAX_FRAME,
    edges: 3,
  });
  expect(report.ok, formatReport(report)).toBe(true);
}, 30_000);
