// What the session journal costs the edge per session, measured alone: the file store records a session's
// creation and its end (what scenario d makes it write), batched per event-loop turn as in the edge, with
// state.persist_sessions on and off (off writes only id blocks), alternating, in one process. The figure is
// process CPU (user + system, so the write and the once-a-second fdatasync count) per session.
// node dist-bench/bench/journal-cost.js [--sessions N] [--per-turn B] [--repeat R]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileStore } from '../src/store/file-store.js';

const { values } = parseArgs({
  options: { sessions: { type: 'string' }, 'per-turn': { type: 'string' }, repeat: { type: 'string' } },
});
const N = Number(values.sessions ?? 50_000);
const perTurns = (values['per-turn'] ?? '1,16').split(',').map(Number);
const repeat = Number(values.repeat ?? 5);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const key = new Uint8Array(33).fill(2);

async function once(sessions: boolean, perTurn: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-journal-cost-'));
  const store = new FileStore({ dir, edgePublicKey: '02'.padEnd(66, '0'), sessions, events: { onError: (m) => console.error(m) } });
  await store.load();
  const block = await store.allocateIds(N + 1);
  await turn();
  const t0 = process.cpuUsage();
  for (let id = block.first; id < block.first + N; ) {
    for (let i = 0; i < perTurn && id < block.first + N; i++, id++) {
      store.created(id, key, Date.now());
      store.ended(id, 'kick');
    }
    await turn();
  }
  await store.flush();
  const used = process.cpuUsage(t0);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return (used.user + used.system) / N;
}

for (const perTurn of perTurns) {
  const on: number[] = [];
  const off: number[] = [];
  await once(true, perTurn); // warm-up
  for (let r = 0; r < repeat; r++) {
    on.push(await once(true, perTurn));
    off.push(await once(false, perTurn));
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const fmt = (a: number[]): string => a.map((x) => x.toFixed(1)).join(' ');
  console.log(
    `${N} sessions, ${perTurn} per turn: journal on ${med(on).toFixed(1)} us/session (${fmt(on)}), ` +
      `off ${med(off).toFixed(1)} us/session (${fmt(off)}); the journal adds ${(med(on) - med(off)).toFixed(1)} us/session`,
  );
}
