// Child process: the bench's echo master. The master SDK's echo handler, plus IPC commands to push packets
// to chosen sessions (scenario f) and to report what it saw (failures are errors during a bench).
import { createEchoHandler, listen, type MasterServer } from '../src/sdk/master.js';
import type { BenchToChild, ChildToBench } from './ipc.js';
import { template } from './payload.js';

function post(m: ChildToBench): void {
  process.send!(m);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/echo-master must run as a forked child with an IPC channel');
  const server = await listen({ host: '127.0.0.1', port: 0 });
  createEchoHandler(server);
  let data = 0;
  let failures = 0;
  let reconnections = 0;
  const errors: string[] = [];
  server.on('data', () => data++);
  server.on('edge', () => {
    post({ type: 'edge' });
  });
  server.on('failure', (id, reason) => {
    failures++;
    if (errors.length < 20) errors.push(`Failure for session ${id}: ${reason}`);
  });
  server.on('reconnection', () => reconnections++);
  server.on('error', (err) => {
    if (errors.length < 20) errors.push(`master protocol error: ${err.message}`);
  });

  process.on('message', (raw: BenchToChild) => {
    if (raw.type === 'stats') {
      post({ type: 'stats', data, failures, reconnections, errors });
      return;
    }
    if (raw.type === 'push') {
      if (server.edges.size === 0) {
        post({ type: 'fatal', message: 'push requested before an edge connected' });
        return;
      }
      void push(server, raw.ids, raw.count, raw.size).then(
        (packets) => post({ type: 'pushed', packets }),
        (err: unknown) => post({ type: 'fatal', message: `push failed: ${String(err)}` }),
      );
    }
  });
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
  post({ type: 'ready', port: server.address.port });
}

/**
 * Sends `count` packets to every id: payloads owned by the id (low 32 bits) with sequence 0..count-1. Each goes
 * to the edge that holds its session (several edges in a cluster), as the master SDK routes by id.
 */
async function push(server: MasterServer, ids: number[], count: number, size: number): Promise<number> {
  let packets = 0;
  for (const id of ids) {
    const tpl = template(id, size);
    for (let seq = 0; seq < count; seq++) {
      const p = Buffer.from(tpl);
      p.writeUInt32LE(seq, 4);
      if (!server.send(BigInt(id), p)) await server.edgeOf(BigInt(id))?.drain();
      packets++;
    }
  }
  await server.drain();
  return packets;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench echo-master: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
