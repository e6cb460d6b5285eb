// `voltlane fuzz --config` against the real daemon running with non-default settings: the fuzzer reads them from
// the edge's connserver.toml, confirms them from the running edge's /status.json and passes; a flag or an edited
// file that differs from what the edge runs with is a settings mismatch (exit 2), never a violated invariant.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuilt, stopDaemon, voltlane, waitForLog, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/wire.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(requireBuilt);

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'voltlane-fuzz-config-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An edge config for fuzzing with settings that all differ from the fuzzer's defaults. */
function fuzzToml(p: { edge: number; master: number; http: number | null; stale?: number; limits?: boolean }): string {
  return [
    '[listener]',
    `address = "127.0.0.1:${p.edge}"`,
    '[master]',
    `address = "127.0.0.1:${p.master}"`,
    'reconnect_min_ms = 10',
    'reconnect_max_ms = 100',
    '[clients]',
    `stale_timeout_secs = ${p.stale ?? 0.7}`,
    'stale_reap_interval_secs = 0.03',
    'missed_packets_buffer_size = 6',
    'max_stale_clients = 3',
    '[limits]',
    'max_frame_size = 4096',
    ...(p.limits === false
      ? []
      : ['new_connections_per_address_per_sec = 100000', 'new_connections_burst = 100000', 'failed_resumes_per_address_per_min = 100000']),
    ...(p.http !== null ? ['[http]', `address = "127.0.0.1:${p.http}"`] : []),
    '',
  ].join('\n');
}

async function run(d: Daemon): Promise<{ code: number | null; out: string; err: string }> {
  const code = await d.exited;
  return { code, out: d.out(), err: d.err() };
}

async function edgeWith(dir: string): Promise<{ config: string; edgeD: Daemon }> {
  const [edge, master, http] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'connserver.toml');
  writeFileSync(config, fuzzToml({ edge, master, http }));
  const edgeD = voltlane(['--config', config, '--log-format', 'json'], { cwd: dir });
  cleanups.push(() => stopDaemon(edgeD));
  await waitForLog(edgeD, 'http.listening');
  return { config, edgeD };
}

describe('voltlane fuzz --config', () => {
  it('reads the settings from the edge config, confirms them from the running edge and passes', async () => {
    const dir = tempDir();
    const { config } = await edgeWith(dir);
    const fuzz = voltlane(['fuzz', '--config', config, '--runs', '3', '--seed', '7', '--wait-ms', '1500', '--out', join(dir, 'f.json')], { cwd: dir });
    cleanups.push(() => stopDaemon(fuzz));
    const r = await run(fuzz);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toContain('settings confirmed by the running edge');
    expect(r.out).toContain('clients.stale_timeout_secs=0.7, clients.stale_reap_interval_secs=0.03, clients.missed_packets_buffer_size=6, clients.max_stale_clients=3, limits.max_frame_size=4096');
    expect(r.out).toContain('3 run(s) passed');
  }, 120_000);

  it('a flag or an edited file that differs from the running edge is a settings mismatch (exit 2)', async () => {
    const dir = tempDir();
    const { config } = await edgeWith(dir);
    const flag = await run(voltlane(['fuzz', '--config', config, '--missed-buffer', '4', '--runs', '1'], { cwd: dir }));
    expect(flag.code).toBe(2);
    expect(flag.err).toContain('settings mismatch');
    expect(flag.err).toMatch(/clients\.missed_packets_buffer_size: the fuzzer uses 4 \(flag --missed-buffer\), the running edge 6 \(http:\/\/127\.0\.0\.1:\d+\/status\.json\)/);
    expect(flag.out + flag.err).not.toContain('invariant violated');
    // The file changed after the edge read it (not reloaded): the running edge says what it uses.
    writeFileSync(config, readFileSync(config, 'utf8').replace('stale_timeout_secs = 0.7', 'stale_timeout_secs = 2'));
    const edited = await run(voltlane(['fuzz', '--config', config, '--runs', '1'], { cwd: dir }));
    expect(edited.code).toBe(2);
    expect(edited.err).toContain(`clients.stale_timeout_secs: the fuzzer uses 2 (${config}), the running edge 0.7`);
    expect(edited.err).not.toContain('missed_packets_buffer_size');
  }, 60_000);

  it('without a running edge to ask: the file is checked alone; missing files and unreachable status servers are clear errors', async () => {
    const dir = tempDir();
    const [edge, master, http] = [await freePort(), await freePort(), await freePort()];
    const low = join(dir, 'low.toml');
    writeFileSync(low, fuzzToml({ edge, master, http: null, limits: false }));
    const r1 = await run(voltlane(['fuzz', '--config', low], { cwd: dir }));
    expect(r1.code).toBe(2);
    expect(r1.err).toContain('edge not set up for fuzzing');
    expect(r1.err).toContain('limits.new_connections_per_address_per_sec is 200');
    expect(r1.err).toContain('limits.failed_resumes_per_address_per_min is 60');
    const r2 = await run(voltlane(['fuzz', '--config', join(dir, 'nope.toml')], { cwd: dir }));
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`--config ${join(dir, 'nope.toml')}: no such file`);
    const withHttp = join(dir, 'http.toml');
    writeFileSync(withHttp, fuzzToml({ edge, master, http }));
    const r3 = await run(voltlane(['fuzz', '--config', withHttp], { cwd: dir }));
    expect(r3.code).toBe(2);
    expect(r3.err).toContain(`cannot confirm settings:\n  http://127.0.0.1:${http}/status.json: ECONNREFUSED`);
    expect(r3.err).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);
});
