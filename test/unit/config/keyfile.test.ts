// The edge key file: created 0600 and atomically, reloaded to the same key, refused when unsafe or corrupt.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyFileError, loadOrCreateKeyFile, readKeyFile, writeKeyFile } from '../../../src/config/keyfile.js';
import { generateKeyPair, keyPairFromSecret, type KeyPair } from '../../../src/io/crypto.js';

const POSIX = process.platform !== 'win32';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'voltlane-keyfile-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` as a key file with `mode`, bypassing the module under test. */
function plant(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function expectKeyFileError(fn: () => unknown, path: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KeyFileError);
  const e = caught as KeyFileError;
  expect(e.message).toContain(path);
  expect(e.message).toMatch(pattern);
  expect(e.path).toBe(path);
  expect(e.code).toBe('VL_ERR_KEY_FILE');
}

describe('loadOrCreateKeyFile', () => {
  it('creates a key file (and its missing parent directories), then reloads the same key pair', () => {
    const path = join(dir, 'nested', 'deeper', 'edge.key');
    const first = loadOrCreateKeyFile(path);
    expect(first.created).toBe(true);
    expect(first.keyPair.publicKey).toHaveLength(33);

    const second = loadOrCreateKeyFile(path);
    expect(second.created).toBe(false);
    expect(hex(second.keyPair.publicKey)).toBe(hex(first.keyPair.publicKey));
    expect(hex(second.keyPair.secretKey)).toBe(hex(first.keyPair.secretKey));
    expect(hex(readKeyFile(path).publicKey)).toBe(hex(first.keyPair.publicKey));
  });

  it.skipIf(!POSIX)('creates the file with mode 0600 and leaves no temp file behind', () => {
    const path = join(dir, 'edge.key');
    loadOrCreateKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['edge.key']);
  });

  it('writes a comment plus the secret key as 64 hex characters, naming the public key', () => {
    const path = join(dir, 'edge.key');
    const { keyPair } = loadOrCreateKeyFile(path);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines.at(-1)).toBe(hex(keyPair.secretKey));
    expect(lines.slice(0, -1).every((l) => l.startsWith('#'))).toBe(true);
    expect(lines.join('\n')).toContain(hex(keyPair.publicKey));
  });

  it.skipIf(!POSIX)('refuses an unsafe existing file without replacing it', () => {
    const kp = generateKeyPair();
    const path = plant('edge.key', `${hex(kp.secretKey)}\n`, 0o644);
    expectKeyFileError(() => loadOrCreateKeyFile(path), path, /accessible by others.*chmod 600/);
    expect(readFileSync(path, 'utf8')).toBe(`${hex(kp.secretKey)}\n`);
  });

  it('refuses a corrupt existing file without replacing it', () => {
    const path = plant('edge.key', 'not a key\n');
    expectKeyFileError(() => loadOrCreateKeyFile(path), path, /corrupt/);
    expect(readFileSync(path, 'utf8')).toBe('not a key\n');
  });
});

describe('readKeyFile', () => {
  it.skipIf(!POSIX).each([0o644, 0o604, 0o602, 0o601, 0o666, 0o647])(
    'refuses a file others may access, mode %o',
    (mode) => {
      const path = plant('edge.key', `${hex(generateKeyPair().secretKey)}\n`, mode);
      expectKeyFileError(() => readKeyFile(path), path, /accessible by others/);
    },
  );

  it.skipIf(!POSIX).each([0o660, 0o620, 0o610, 0o670])('refuses a file its group may write or execute, mode %o', (mode) => {
    const path = plant('edge.key', `${hex(generateKeyPair().secretKey)}\n`, mode);
    expectKeyFileError(() => readKeyFile(path), path, /writable or executable by its group/);
  });

  it.skipIf(!POSIX).each([0o640, 0o440])('accepts a file its group may read, mode %o', (mode) => {
    const kp = generateKeyPair();
    const path = plant('edge.key', `${hex(kp.secretKey)}\n`, mode);
    expect(hex(readKeyFile(path).publicKey)).toBe(hex(kp.publicKey));
  });

  it.skipIf(!POSIX)('accepts a read-only 0400 file', () => {
    const kp = generateKeyPair();
    const path = plant('edge.key', `${hex(kp.secretKey)}\n`, 0o400);
    expect(hex(readKeyFile(path).publicKey)).toBe(hex(kp.publicKey));
  });

  const ORDER_N = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141';
  it.each([
    { what: 'an empty file', text: '' },
    { what: 'only comments', text: '# nothing here\n' },
    { what: 'bad hex', text: `${'zz'.repeat(32)}\n` },
    { what: '31 bytes', text: `${'11'.repeat(31)}\n` },
    { what: '33 bytes', text: `${'11'.repeat(33)}\n` },
    { what: 'two key lines', text: `${'11'.repeat(32)}\n${'22'.repeat(32)}\n` },
    { what: 'the zero scalar', text: `${'00'.repeat(32)}\n` },
    { what: 'the group order n (out of range)', text: `${ORDER_N}\n` },
    { what: 'all ff (out of range)', text: `${'ff'.repeat(32)}\n` },
    { what: 'binary garbage', text: '\u0000\u0001\u0002' },
  ])('refuses a corrupt file: $what', ({ text }) => {
    const path = plant('edge.key', text);
    expectKeyFileError(() => readKeyFile(path), path, /corrupt/);
  });

  it('refuses an oversized file', () => {
    const path = plant('edge.key', `# ${'x'.repeat(5000)}\n${'11'.repeat(32)}\n`);
    expectKeyFileError(() => readKeyFile(path), path, /too large/);
  });

  it('reports a missing file', () => {
    const path = join(dir, 'absent.key');
    expectKeyFileError(() => readKeyFile(path), path, /does not exist/);
  });

  it('refuses a directory', () => {
    expectKeyFileError(() => readKeyFile(dir), dir, /not a regular file/);
  });

  it('tolerates CRLF line ends, blank lines and upper-case hex', () => {
    const kp = generateKeyPair();
    const path = plant('edge.key', `# comment\r\n\r\n${hex(kp.secretKey).toUpperCase()}\r\n`);
    expect(hex(readKeyFile(path).secretKey)).toBe(hex(kp.secretKey));
  });
});

describe('writeKeyFile', () => {
  it('writes a key pair that reads back identically, replacing an older file, mode 0600', () => {
    const path = join(dir, 'edge.key');
    writeKeyFile(path, generateKeyPair());
    const kp = keyPairFromSecret(Uint8Array.from(Buffer.from('11'.repeat(32), 'hex'))) as KeyPair;
    writeKeyFile(path, kp);
    const back = readKeyFile(path);
    expect(hex(back.secretKey)).toBe('11'.repeat(32));
    expect(hex(back.publicKey)).toBe(hex(kp.publicKey));
    if (POSIX) expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['edge.key']);
  });

  it('refuses a key pair whose public key does not match its secret key', () => {
    const path = join(dir, 'edge.key');
    const mismatched = { secretKey: generateKeyPair().secretKey, publicKey: generateKeyPair().publicKey };
    expectKeyFileError(() => writeKeyFile(path, mismatched), path, /does not belong/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses an invalid (zero) secret key', () => {
    const path = join(dir, 'edge.key');
    const zero = { secretKey: new Uint8Array(32), publicKey: new Uint8Array(33) };
    expectKeyFileError(() => writeKeyFile(path, zero), path, /refusing to write.*secret key/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
