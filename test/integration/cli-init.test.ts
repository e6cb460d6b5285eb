// Where the config and the key come from, through the real `voltlane` process: a --config path that does not exist
// is an error naming `voltlane init`, which writes the default config and the key and never replaces a key.
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_TOML } from '../../src/config/index.js';
import { freePort } from '../helpers/wire.js';
import { processScope, stopDaemon, waitForLog, type Daemon } from '../helpers/daemon.js';

const { run, master: startMaster, tempDir } = processScope('init');

/** The key file's secret line (the file is private: read it as its owner). */
const secretOf = (path: string): string => readFileSync(path, 'utf8').split('\n').find((l) => /^[0-9a-f]{64}$/.test(l))!;

describe('voltlane --config PATH', () => {
  it('refuses a path that does not exist with exit 2 and one line naming voltlane init, and writes nothing', async () => {
    const dir = tempDir();
    const path = join(dir, 'etc', 'voltlane', 'connserver.toml');
    for (const args of [['--config', path], ['run', '--config', path], ['--config', path, '--workers', '2']]) {
      const d = run(args, { cwd: dir });
      expect(await d.exited).toBe(2);
      expect(d.err()).toBe(
        `voltlane: config file ${path} does not exist (only the default ./connserver.toml is written on first start); ` +
          `create it with: voltlane init --config ${path}\n`,
      );
    }
    expect(existsSync(join(dir, 'etc'))).toBe(false);
    // The command it names works, and then the daemon starts from that file.
    const init = run(['init', '--config', path], { cwd: dir });
    expect(await init.exited).toBe(0);
    const masterPort = (await startMaster()).port;
    const port = await freePort();
    const d = run(['--config', path, '--listen', `127.0.0.1:${port}`, '--master', `127.0.0.1:${masterPort}`, '--log-format', 'json'], { cwd: dir });
    const key = await waitForLog(d, 'edge.key');
    expect(key).toMatchObject({ path: join(dir, 'etc', 'voltlane', 'voltlane.key'), created: false });
  });

  it('names the path as typed, quoted for the shell when it needs to be', async () => {
    const dir = tempDir();
    const d = run(['--config', "my configs/edge's.toml"], { cwd: dir });
    expect(await d.exited).toBe(2);
    expect(d.err()).toContain(`create it with: voltlane init --config 'my configs/edge'\\''s.toml'\n`);
  });
});

describe('voltlane init', () => {
  it('writes the default config (parent directories too) and a 0600 key where it says, then refuses to overwrite', async () => {
    const dir = tempDir();
    const path = join(dir, 'a', 'b', 'connserver.toml');
    const init = run(['init', '--config', path], { cwd: dir });
    expect(await init.exited).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(DEFAULT_CONFIG_TOML);
    const keyPath = join(dir, 'a', 'b', 'voltlane.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(init.out()).toContain(`wrote ${path}`);
    expect(init.out()).toMatch(new RegExp(`created the edge key ${keyPath} \\(mode 0600\\), public key [0-9a-f]{66}`));
    const secret = secretOf(keyPath);

    writeFileSync(path, '[general]\nlog_level = "warn"\n');
    const again = run(['init', '--config', path], { cwd: dir });
    expect(await again.exited).toBe(2);
    expect(again.err()).toBe(
      `voltlane: ${path} already exists; voltlane init does not overwrite it (voltlane init --config ${path} --force ` +
        'replaces it with the default configuration; an existing key file is never replaced)\n',
    );
    expect(readFileSync(path, 'utf8')).toBe('[general]\nlog_level = "warn"\n');

    const forced = run(['init', '--config', path, '--force'], { cwd: dir });
    expect(await forced.exited).toBe(0);
    expect(forced.out()).toContain(`replaced ${path}`);
    expect(forced.out()).toContain(`kept the existing edge key ${keyPath}`);
    expect(readFileSync(path, 'utf8')).toBe(DEFAULT_CONFIG_TOML);
    expect(secretOf(keyPath)).toBe(secret);
  });

  it('without --config writes ./connserver.toml; an unsafe existing key is refused, never replaced', async () => {
    const dir = tempDir();
    const keyPath = join(dir, 'voltlane.key');
    writeFileSync(keyPath, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    chmodSync(keyPath, 0o644);
    const init = run(['init'], { cwd: dir });
    expect(await init.exited).toBe(1);
    expect(init.err()).toContain(`key file ${keyPath}: is accessible by`);
    expect(readFileSync(join(dir, 'connserver.toml'), 'utf8')).toBe(DEFAULT_CONFIG_TOML);
    expect(readFileSync(keyPath, 'utf8')).toBe(`${'ab'.repeat(32)}\n`);
    const stray = run(['init', 'extra'], { cwd: dir });
    expect(await stray.exited).toBe(2);
    expect(stray.err()).toContain('voltlane init takes no arguments');
  });
});

describe('the key file (general.key_file)', () => {
  async function start(dir: string, config: string): Promise<Daemon> {
    const port = await freePort();
    return run(['--config', config, '--listen', `127.0.0.1:${port}`, '--master', '127.0.0.1:9', '--log-format', 'json'], { cwd: dir });
  }

  it('lives where the config says (relative to the config file), state in state.dir; 0600 and 0640 are accepted, others refused', async () => {
    const dir = tempDir();
    const config = join(dir, 'etc', 'connserver.toml');
    const init = run(['init', '--config', config], { cwd: dir });
    expect(await init.exited).toBe(0);
    writeFileSync(config, '[general]\nkey_file = "../secrets/edge.key"\n[state]\ndir = "../state"\n');
    const keyPath = join(dir, 'secrets', 'edge.key');
    expect(existsSync(keyPath)).toBe(false);

    // First start: the key is created there, 0600; the state lands in state.dir.
    const first = await start(dir, config);
    expect(await waitForLog(first, 'edge.key')).toMatchObject({ path: keyPath, created: true });
    await waitForLog(first, 'edge.started');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    await stopDaemon(first, 'SIGTERM');
    expect(existsSync(join(dir, 'state', 'voltlane.state'))).toBe(true);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    expect(existsSync(join(dir, 'secrets', 'voltlane.state'))).toBe(false);
    const secret = secretOf(keyPath);

    // Group-readable (root:voltlane, a mounted secret): accepted, the same key.
    chmodSync(keyPath, 0o640);
    const second = await start(dir, config);
    expect(await waitForLog(second, 'edge.key')).toMatchObject({ path: keyPath, created: false });
    await waitForLog(second, 'edge.started');
    await stopDaemon(second, 'SIGTERM');

    // Readable by others: refused, with the fix, and the file is left as it is.
    for (const mode of [0o644, 0o604, 0o660]) {
      chmodSync(keyPath, mode);
      const bad = await start(dir, config);
      expect(await bad.exited).toBe(1);
      const m = mode.toString(8).padStart(4, '0');
      const who = mode & 0o007 ? 'is accessible by others' : 'is writable or executable by its group';
      expect(bad.err()).toBe(
        `voltlane: key file ${keyPath}: ${who} (mode ${m}); it holds a secret key, so restrict it: chmod 600 ${keyPath} (or 640 to let its group read it)\n`,
      );
      expect(secretOf(keyPath)).toBe(secret);
    }
  });

  it('an empty general.key_file is refused as a config error', async () => {
    const dir = tempDir();
    const d = run(['--listen', '127.0.0.1:0'], { cwd: dir, env: { VOLTLANE_GENERAL_KEY_FILE: ' ' } });
    expect(await d.exited).toBe(2);
    expect(d.err()).toContain('general.key_file: bad value " " from environment variable VOLTLANE_GENERAL_KEY_FILE');
  });
});
