// `voltlane init [--config FILE] [--force]`: writes the commented default config and creates the edge key
// where that config says. Never replaces an existing key; replaces an existing config only with --force.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError, DEFAULT_CONFIG_TOML, loadConfig } from '../config/index.js';
import { shellWord } from '../config/load.js';
import { loadOrCreateKeyFile } from '../config/keyfile.js';
import { errnoCode } from '../errno.js';
import { keyFilePath } from './run.js';

/** Writes the files; returns the lines to print. Throws ConfigError (exit 2) when the config exists and force is off. */
export function runInit(configPath: string | undefined, force: boolean): string[] {
  const typed = configPath ?? 'connserver.toml';
  const path = resolve(typed);
  const out: string[] = [];
  const replaced = writeConfig(path, typed, force);
  out.push(`${replaced ? 'replaced' : 'wrote'} ${path}: the default configuration, every key explained`);
  // The key goes where the daemon will look for it: the config just written, with the environment over it.
  const { config } = loadConfig({ path, mustExist: true });
  const keyPath = keyFilePath(config, path);
  const { keyPair, created } = loadOrCreateKeyFile(keyPath);
  const pub = Buffer.from(keyPair.publicKey).toString('hex');
  out.push(created ? `created the edge key ${keyPath} (mode 0600), public key ${pub}` : `kept the existing edge key ${keyPath}, public key ${pub}`);
  out.push(`start the edge with: voltlane --config ${shellWord(typed)}`);
  return out;
}

/** Writes DEFAULT_CONFIG_TOML at `path` (parent directories too); true when it replaced a file. */
function writeConfig(path: string, typed: string, force: boolean): boolean {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new ConfigError(`cannot create the directory of ${path}: ${errnoCode(err) ?? String(err)}`, { source: path, cause: err });
  }
  if (!force) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        throw new ConfigError(
          `${path} already exists; voltlane init does not overwrite it (voltlane init --config ${shellWord(typed)} --force ` +
            'replaces it with the default configuration; an existing key file is never replaced)',
          { source: path },
        );
      }
      throw new ConfigError(`cannot write ${path}: ${errnoCode(err) ?? String(err)}`, { source: path, cause: err });
    }
    writeAll(fd, path);
    return false;
  }
  // --force: a synced temp file renamed over the old one, so a crash never leaves half a config.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const existed = existsSync(path);
  try {
    writeAll(openSync(tmp, 'wx', 0o644), tmp);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot write ${path}: ${errnoCode(err) ?? String(err)}`, { source: path, cause: err });
  }
  return existed;
}

function writeAll(fd: number, path: string): void {
  try {
    writeSync(fd, DEFAULT_CONFIG_TOML);
    fsyncSync(fd);
  } catch (err) {
    throw new ConfigError(`cannot write ${path}: ${errnoCode(err) ?? String(err)}`, { source: path, cause: err });
  } finally {
    closeSync(fd);
  }
}
