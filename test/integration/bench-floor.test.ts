// The floor tooling of the C bench (bench/c/floor-runs.ts): the bare Node servers and floor-load.c, through
// real sockets, so that the floor rows bench:c prints stay measurements of the work they describe.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFloorLoad, nodeServer, partF, stop, waitListening } from '../../bench/c/floor-runs.js';
import { freePort } from '../../bench/edge-config.js';

const dir = mkdtempSync(join(tmpdir(), 'voltlane-floor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Sends `msg` and collects `want` bytes back. */
function exchange(port: number, msg: Buffer, want: number): Promise<Buffer> {
  return new Promise((done, fail) => {
    const c = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let n = 0;
    c.on('connect', () => c.write(msg));
    c.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= want) {
        c.destroy();
        done(Buffer.concat(got));
      }
    });
    c.on('error', fail);
    c.on('close', () => fail(new Error(`closed after ${n} of ${want} bytes`)));
  });
}

describe('bench floor', () => {
  it('the echo server writes back every byte it reads', async () => {
    const port = await freePort();
    const p = nodeServer('echo', port);
    try {
      await waitListening(port);
      const msg = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
      expect((await exchange(port, msg, msg.length)).equals(msg)).toBe(true);
    } finally {
      await stop(p);
    }
  });

  it("the resume server answers each framed message with the reply size of f's step, and closes on an unknown type", async () => {
    const port = await freePort();
    const p = nodeServer('resume', port);
    try {
      await waitListening(port);
      const frame = (type: number, body: number) => {
        const b = Buffer.alloc(4 + body);
        b.writeUInt32LE(body, 0);
        b[4] = type;
        return b;
      };
      // Two messages in one write: 78 + 215 bytes back.
      const both = Buffer.concat([frame(3, 9), frame(4, 85)]);
      expect((await exchange(port, both, 78 + 215)).length).toBe(78 + 215);
      await expect(exchange(port, frame(9, 4), 1)).rejects.toThrow(/closed after 0/);
    } finally {
      await stop(p);
    }
  });

  it('floor-load sets up, drops and resumes connections against it and reads the server\'s CPU and RSS', async () => {
    const load = buildFloorLoad(dir);
    const r = await partF(load, 300);
    expect(r.stormS).toBeGreaterThan(0);
    expect(r.cpuPerResumeUs).toBeGreaterThanOrEqual(0);
    expect(r.idleKiB).toBeGreaterThan(1024);
    expect(r.upKiB).toBeGreaterThan(0);
    expect(r.staleKiB).toBeGreaterThan(0);
  }, 30_000);
});
