// The packaging: deploy/voltlane.service checked by systemd-analyze verify and the Dockerfile by dockerfile-utils
// (the linter of the VS Code Docker extension), each with a broken copy to show the check can fail; then the
// command lines they hold run against the real process: the unit's ExecStart with its environment, reloaded the
// way ExecReload does it and stopped with its KillSignal; the image's first-run init and its ENTRYPOINT + CMD.
// No Docker engine or systemd PID 1 is needed: what a container or the service manager would run is run here.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { FD_RESERVE } from '../../src/actors/fd-limit.js';
import { MAIN, processScope, waitForLog } from '../helpers/daemon.js';
import { freePort, rawNewSession } from '../helpers/wire.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = join(ROOT, 'deploy', 'voltlane.service');
const DOCKERFILE = join(ROOT, 'Dockerfile');
const LINT = join(ROOT, 'node_modules', '.bin', 'dockerfile-utils');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

const { run, master: startMaster, tempDir } = processScope('deploy');

/** `Key=value` lines of a unit file, in order (comments and sections left out). */
function unitEntries(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]);
}

/** systemd-analyze verify on a copy of the unit whose ExecStart binary is a stub that exists here. */
function verifyUnit(text: string): { status: number | null; output: string } {
  const dir = tempDir();
  const stub = join(dir, 'voltlane');
  writeFileSync(stub, '#!/bin/sh\nexit 0\n');
  chmodSync(stub, 0o755);
  const exec = unitEntries(text).find(([k]) => k === 'ExecStart')![1].split(' ')[0]!;
  const unit = join(dir, 'voltlane.service');
  writeFileSync(unit, text.replace(`ExecStart=${exec} `, `ExecStart=${stub} `));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('deploy/voltlane.service', () => {
  const text = readFileSync(UNIT, 'utf8');
  const entries = unitEntries(text);
  const get = (k: string) => entries.filter(([key]) => key === k).map(([, v]) => v);

  it('systemd-analyze is there in CI (.ci/run installs it)', () => {
    if (process.env.CI === 'true' && !hasSystemdAnalyze) throw new Error('CI=true but systemd-analyze is missing: .ci/run should have installed it');
  });

  it.skipIf(!hasSystemdAnalyze)('passes systemd-analyze verify without a word; a broken copy does not', () => {
    expect(verifyUnit(text)).toEqual({ status: 0, output: '' });
    const broken = verifyUnit(text.replace('Restart=on-failure', 'Restart=sometimes').replace('[Service]\n', '[Service]\nNoSuchKey=1\n'));
    expect(broken.output).toMatch(/Unknown key 'NoSuchKey'/);
    expect(broken.output).toMatch(/restart specifier.*sometimes/);
  });

  it('restarts on failure as a dedicated user, reloads with SIGHUP, stops with SIGTERM, and has the descriptors it needs', () => {
    expect(get('Restart')).toEqual(['on-failure']);
    expect(get('User')).toEqual(['voltlane']);
    expect(get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(get('KillSignal')).toEqual(['SIGTERM']);
    expect(Number(get('LimitNOFILE')[0])).toBeGreaterThanOrEqual(DEFAULT_CONFIG.limits.maxConnections + FD_RESERVE);
    for (const k of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) expect(get(k)).toEqual(['yes']);
    expect(get('ProtectSystem')).toEqual(['strict']);
    expect(get('StateDirectory')).toEqual(['voltlane']);
    expect(get('ConfigurationDirectory')).toEqual(['voltlane']);
    // V8 compiles to executable memory: MemoryDenyWriteExecute would kill node.
    expect(get('MemoryDenyWriteExecute')).toEqual([]);
  });

  it('its ExecStart, with its environment, runs the edge; ExecReload reloads it; KillSignal stops it with exit 0', async () => {
    // /etc/voltlane and /var/lib/voltlane become temp dirs, the installed bin this checkout's dist/cli/main.js.
    const etc = tempDir();
    const state = tempDir();
    const swap = (s: string) => s.replaceAll('/etc/voltlane', etc).replaceAll('/var/lib/voltlane', state);
    const env = Object.fromEntries(get('Environment').map((e) => swap(e).split('=', 2) as [string, string]));
    const args = swap(get('ExecStart')[0]!).split(' ').slice(1);
    const init = run(['init', '--config', join(etc, 'connserver.toml')]);
    expect(await init.exited).toBe(0);
    chmodSync(join(etc, 'voltlane.key'), 0o640); // root:voltlane in the README's steps
    const port = await freePort();
    const d = run([...args, '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${(await startMaster()).port}`], { cwd: swap(get('WorkingDirectory')[0]!), env });
    await waitForLog(d, 'edge.started');
    const s = await rawNewSession(port);
    writeFileSync(join(etc, 'connserver.toml'), '[limits]\nmax_connections = 5000\n');
    process.kill(d.child.pid!, 'SIGHUP');
    expect((await waitForLog(d, 'config.reloaded')).msg).toBe('config.reloaded: limits.max_connections 100000 -> 5000');
    process.kill(d.child.pid!, get('KillSignal')[0] as NodeJS.Signals);
    expect(await d.exited).toBe(0);
    s.socket.destroy();
    // The sessions were saved in the state directory, not beside the config.
    expect(existsSync(join(state, 'voltlane.state'))).toBe(true);
    expect(existsSync(join(etc, 'voltlane.state'))).toBe(false);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const instructions = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => /^[A-Z]+\s/.test(l))
    .map((l) => ({ op: l.slice(0, l.indexOf(' ')), arg: l.slice(l.indexOf(' ') + 1).trim() }));
  const all = (op: string) => instructions.filter((i) => i.op === op).map((i) => i.arg);

  it('passes dockerfile-utils lint without a word; a broken copy does not', () => {
    expect(execFileSync(LINT, ['lint', DOCKERFILE], { encoding: 'utf8' }).trim()).toBe('');
    const broken = join(tempDir(), 'Dockerfile');
    writeFileSync(broken, text.replace('EXPOSE 42000', 'EXPOSE 42000/tcpx').replace('STOPSIGNAL SIGTERM', 'STOPSIGNAL SIGTERM\nFOO bar'));
    const r = spawnSync(LINT, ['lint', broken], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Unknown instruction: FOO/);
  });

  it('builds in one stage and runs from a small official Node 24 image as a non-root user, signals reaching node', () => {
    const froms = all('FROM');
    expect(froms).toHaveLength(2);
    expect(froms[0]).toMatch(/^node:24-bookworm AS build$/);
    expect(froms[1]).toMatch(/^node:24-bookworm-slim$/);
    expect(all('USER')).toEqual(['voltlane']);
    expect(instructions.findIndex((i) => i.op === 'USER')).toBeGreaterThan(instructions.findLastIndex((i) => i.op === 'RUN'));
    expect(all('VOLUME')).toEqual(['["/data"]']);
    expect(all('EXPOSE')).toEqual(['42000']);
    // Exec form (a JSON array): node is PID 1 and gets SIGTERM and SIGHUP itself, no shell in between.
    for (const op of ['ENTRYPOINT', 'CMD']) expect(Array.isArray(JSON.parse(all(op)[0]!))).toBe(true);
    // Every file the build copies from the context exists in the repository.
    for (const c of all('COPY').filter((a) => !a.startsWith('--from'))) {
      for (const src of c.split(/\s+/).slice(0, -1)) expect([src, existsSync(join(ROOT, src))]).toEqual([src, true]);
    }
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const heavy of ['node_modules', 'dist', '.git']) expect(ignore).toContain(heavy);
  });

  it('the first-run init and the ENTRYPOINT + CMD, with the image ENV, start the edge from the volume', async () => {
    const data = tempDir();
    const swap = (s: string) => s.replaceAll('/data', data).replace('/app/dist/cli/main.js', MAIN);
    const [node, main, ...cmdArgs] = [...(JSON.parse(swap(all('ENTRYPOINT')[0]!)) as string[]), ...(JSON.parse(swap(all('CMD')[0]!)) as string[])];
    expect([node, main]).toEqual(['node', MAIN]);
    // The README's first run: docker run --rm -v voltlane:/data voltlane init --config /data/connserver.toml
    const init = run(['init', '--config', join(data, 'connserver.toml')]);
    expect(await init.exited).toBe(0);
    expect(statSync(join(data, 'voltlane.key')).mode & 0o777).toBe(0o600);
    const env = Object.fromEntries(
      all('ENV')
        .flatMap((a) => a.split(/\s+/))
        .map((kv) => kv.split('=', 2) as [string, string]),
    );
    expect(env.VOLTLANE_LISTENER_ADDRESS).toBe('0.0.0.0:42000');
    const port = await freePort();
    // Loopback only in tests: the listener the image sets is moved to 127.0.0.1 the way a user would, with -e.
    const d = run(cmdArgs, {
      cwd: data,
      env: { ...env, VOLTLANE_LISTENER_ADDRESS: `127.0.0.1:${port}`, VOLTLANE_MASTER_ADDRESS: `127.0.0.1:${(await startMaster()).port}` },
    });
    await waitForLog(d, 'edge.started');
    (await rawNewSession(port)).socket.destroy();
    process.kill(d.child.pid!, 'SIGTERM');
    expect(await d.exited).toBe(0);
    expect(existsSync(join(data, 'voltlane.state'))).toBe(true);
  });
});

describe('package.json', () => {
  it('installing the package runs no build (the build is in prepack); npm test builds what it needs first', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect([hook, pkg.scripts[hook]]).toEqual([hook, undefined]);
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json && node scripts/build-browser.mjs');
    expect(pkg.scripts.test).toMatch(/^tsc -p tsconfig\.json --noEmit && tsc -p tsconfig\.build\.json && node scripts\/build-browser\.mjs && vitest run$/);
    // So a fresh clone builds before the bin runs, as the README's quick start says.
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('npm ci && npm run build && npx voltlane demo');
  });
});
