// A real redis-server for tests: started on a free loopback port with its own temp dir, stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Stops the server (SIGTERM, or SIGKILL when `kill`), waits for the exit. */
  stop(kill?: boolean): Promise<void>;
  /** Starts it again on the same port (after stop()); the data is gone (no persistence). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

/** A free port on 127.0.0.1 (the kernel's choice; a tiny race with other processes, retried by the caller). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const deadline = setTimeout(() => fail(new Error(`redis-server did not start within 10 s on port ${port}: ${out}`)), 10_000);
    const fail = (err: Error) => {
      clearTimeout(deadline);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', (err) => fail(new Error(`cannot run redis-server (install Debian's redis-server): ${err.message}`)));
    child.once('exit', (code) => fail(new Error(`redis-server exited with ${code} on port ${port}: ${out}`)));
    // Ready once the port accepts a PING.
    const poll = () => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        if (d.toString().startsWith('+PONG')) {
          clearTimeout(deadline);
          child.removeAllListeners('exit');
          resolve(child);
        } else setTimeout(poll, 20);
      });
      s.once('error', () => {
        s.destroy();
        setTimeout(poll, 20);
      });
    };
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    poll();
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-redis-'));
  let child: ChildProcess | null = null;
  let port = 0;
  for (let tries = 0; ; tries++) {
    port = await freePort();
    try {
      child = await launch(port, dir);
      break;
    } catch (err) {
      if (tries >= 3) throw err;
    }
  }
  const stop = async (kill = false): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid!, kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? 0;
    },
    async stop(kill = false) {
      await stop(kill);
    },
    async restart() {
      await stop();
      child = await launch(port, dir);
    },
    async dispose() {
      await stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
