// `voltlane fuzz` against our own in-process edge: passes (exit 0) when the edge dials it; exit 2 when the
// edge is pointed elsewhere; exit 1 with a replay file when an invariant breaks (a master that lies about the buffer).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Edge } from '../../../src/actors/edge.js';
import { runFuzzCommand } from '../../../src/cli/fuzz.js';
import { fuzzEdgeConfig } from '../../../src/fuzz/in-process.js';
import { generateKeyPair } from '../../../src/io/crypto.js';
import { silentLogger } from '../../../src/log.js';
import { freePort } from '../../helpers/wire.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function edgeDialing(masterPort: number, missedBufferSize = 4): Promise<{ edge: Edge; port: number }> {
  const config = fuzzEdgeConfig(masterPort, false, missedBufferSize);
  const edge = new Edge({ config: { ...config, clients: { ...config.clients, staleTimeoutSecs: 0.3, staleReapIntervalSecs: 0.02, maxStaleClients: 65535 } }, keyPair: generateKeyPair(), log: silentLogger() });
  const { port } = await edge.start();
  return { edge, port };
}

function quiet(): string[] {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  return out;
}

const common = (port: number, masterPort: number, out: string) => [
  '--edge', `127.0.0.1:${port}`, '--master-listen', `127.0.0.1:${masterPort}`,
  '--stale-timeout', '0.3', '--reap-interval', '0.02', '--max-frame', '4096', '--out', out, '--wait-ms', '1000',
];

describe('voltlane fuzz', () => {
  it('passes against a correct edge that dials it (exit 0)', async () => {
    const masterPort = await freePort();
    const { edge, port } = await edgeDialing(masterPort);
    const dir = mkdtempSync(join(tmpdir(), 'vl-fuzz-'));
    dirs.push(dir);
    const out = quiet();
    try {
      const code = await runFuzzCommand([...common(port, masterPort, join(dir, 'f.json')), '--runs', '3', '--seed', '7', '--missed-buffer', '4']);
      expect(code, out.join('')).toBe(0);
      expect(out.join('')).toContain('3 run(s) passed');
    } finally {
      await edge.stop();
    }
  }, 30_000);

  it('exits 1 with a replay file when told the wrong buffer size, and the replay fails the same way', async () => {
    const masterPort = await freePort();
    const { edge, port } = await edgeDialing(masterPort, 4);
    const dir = mkdtempSync(join(tmpdir(), 'vl-fuzz-'));
    dirs.push(dir);
    const file = join(dir, 'f.json');
    const out = quiet();
    try {
      // The edge buffers 4 packets; the fuzzer expects 0 (every packet for a stale session ends it): a violation.
      const code = await runFuzzCommand([...common(port, masterPort, file), '--runs', '40', '--seed', '1', '--missed-buffer', '0']);
      expect(code, out.join('')).toBe(1);
      const text = out.join('');
      expect(text).toContain('minimal sequence:');
      expect(text).toContain(`--replay ${file}`);
      // Nothing confirmed the settings (no status server): the report says a mismatch may be the cause.
      expect(text).toContain("note: the edge's settings were not confirmed");
      const rec = JSON.parse(readFileSync(file, 'utf8')) as { seed: number; path: string };
      expect(typeof rec.seed).toBe('number');
      const again = await runFuzzCommand([...common(port, masterPort, join(dir, 'g.json')), '--missed-buffer', '0', '--replay', file]);
      expect(again).toBe(1);
    } finally {
      await edge.stop();
    }
  }, 60_000);

  it('exits 2 when the edge never dials the fuzzer (master.address pointed elsewhere)', async () => {
    const masterPort = await freePort();
    const elsewhere = await freePort();
    const { edge, port } = await edgeDialing(elsewhere);
    const out = quiet();
    try {
      const code = await runFuzzCommand([...common(port, masterPort, '/dev/null'), '--connect-timeout', '0.5']);
      expect(code).toBe(2);
      expect(out.join('')).toContain('did not connect');
    } finally {
      await edge.stop();
    }
  }, 20_000);

  it('says what is wrong with a --replay file (missing, not JSON, not a replay file) and exits 2, with no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vl-fuzz-replay-'));
    dirs.push(dir);
    const addrs = ['--edge', '127.0.0.1:9', '--master-listen', '127.0.0.1:0'];
    const cases: [string, string | null, string][] = [
      ['missing.json', null, 'no such file'],
      ['garbage.json', '{ not json', 'not JSON'],
      ['other.json', '{"name":"voltlane"}', 'not a replay file'],
    ];
    for (const [name, text, expected] of cases) {
      const file = join(dir, name);
      if (text !== null) writeFileSync(file, text);
      const out = quiet();
      expect(await runFuzzCommand([...addrs, '--replay', file])).toBe(2);
      const said = out.join('');
      vi.restoreAllMocks();
      expect(said).toContain(`--replay ${file}: ${expected}`);
      expect(said).not.toMatch(/\n\s+at /);
    }
  });

  it('explains the setup in --help', async () => {
    const out = quiet();
    expect(await runFuzzCommand(['--help'])).toBe(0);
    expect(out.join('')).toContain('master.address');
  });
});
