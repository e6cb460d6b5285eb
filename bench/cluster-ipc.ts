// What the IPC channel of `voltlane --workers N` costs per cluster-store request, with each serialization Node's
// cluster module offers: 'json' (buffers as base64 strings) against 'advanced' (structured clone: buffers as
// bytes). A worker (here: a forked child) sends `deliver`-shaped requests with a payload, keeping a window in
// flight as an edge does (fire and forget, answered in order); the parent answers each as the primary does.
// The json mode goes through the codec the workers use (src/cluster/ipc-codec.ts).
// Run: npx tsc -p tsconfig.bench.json && node dist-bench/bench/cluster-ipc.js [requests]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from '../src/cluster/ipc-codec.js';

const WINDOW = 64;
const SIZES = [64, 1024, 16 * 1024];

type Mode = 'json' | 'advanced';
interface Req {
  vl: 'q';
  i: number;
  op: 'deliver';
  a: unknown[];
}

function child(): void {
  const mode = process.env.IPC_MODE as Mode;
  const size = Number(process.env.IPC_SIZE);
  const total = Number(process.env.IPC_N);
  const payload = new Uint8Array(size).fill(7);
  let sent = 0;
  let answered = 0;
  const t0 = process.hrtime.bigint();
  const send = () => {
    const a = ['member', sent + 1, payload, 60_000];
    const req: Req = { vl: 'q', i: ++sent, op: 'deliver', a: mode === 'json' ? (pack(a) as unknown[]) : a };
    process.send!(req);
  };
  process.on('message', () => {
    answered++;
    if (sent < total) send();
    if (answered === total) {
      const ns = Number(process.hrtime.bigint() - t0);
      process.send!({ done: true, perSec: Math.round(total / (ns / 1e9)) });
    }
  });
  for (let i = 0; i < WINDOW; i++) send();
}

async function run(mode: Mode, size: number, n: number): Promise<number> {
  const c = fork(fileURLToPath(import.meta.url), [], { serialization: mode, env: { ...process.env, IPC_CHILD: '1', IPC_MODE: mode, IPC_SIZE: String(size), IPC_N: String(n) } });
  return new Promise((resolve, reject) => {
    c.on('message', (m: unknown) => {
      const msg = m as Req & { done?: boolean; perSec?: number };
      if (msg.done) {
        c.kill();
        resolve(msg.perSec!);
        return;
      }
      // The primary's side: decode the payload as the store would keep it, answer.
      const bytes = (mode === 'json' ? (unpack(msg.a) as unknown[]) : msg.a)[2] as Uint8Array;
      if (bytes.length !== size) reject(new Error(`payload of ${bytes.length} bytes, not ${size}`));
      c.send({ vl: 'a', i: msg.i, v: mode === 'json' ? pack('ok') : 'ok' });
    });
    c.on('error', reject);
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 50_000);
  console.log(`cluster IPC: ${n} deliver requests per run, ${WINDOW} in flight; requests/s (median of 3), advanced/json ratio`);
  for (const size of SIZES) {
    const median = async (mode: Mode) => {
      const r = [];
      for (let i = 0; i < 3; i++) r.push(await run(mode, size, n));
      return r.sort((a, b) => a - b)[1]!;
    };
    const json = await median('json');
    const adv = await median('advanced');
    console.log(`payload ${String(size).padStart(6)} B: json+base64 ${String(json).padStart(7)}/s  advanced ${String(adv).padStart(7)}/s  ratio ${(adv / json).toFixed(2)}`);
  }
}

if (process.env.IPC_CHILD) child();
else await main();
