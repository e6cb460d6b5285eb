// The edge's persistent secp256k1 key pair: a private (0600) text file holding the secret key as hex.
import {
  closeSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { constantTimeEqual, generateKeyPair, keyPairFromSecret, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';
import { errnoCode } from '../errno.js';

/** A key file that cannot be read, is unsafe, or is corrupt. The message always names the file. */
export class KeyFileError extends Error {
  readonly code = 'VL_ERR_KEY_FILE';
  readonly path: string;
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(`key file ${path}: ${problem}`, options);
    this.name = 'KeyFileError';
    this.path = path;
  }
}

const FILE_MODE = 0o600;
/** Mode bits a key file may not have: any for others, write or execute for the group. */
const UNSAFE_BITS = 0o037;
const DIR_MODE = 0o700;
/** A key file is a few hundred bytes; anything much larger is not one. */
const MAX_FILE_SIZE = 4096;
const SECRET_HEX = /^[0-9a-fA-F]{64}$/;
const CHECK_MODE = process.platform !== 'win32';

function render(keyPair: KeyPair): string {
  const pub = Buffer.from(keyPair.publicKey).toString('hex');
  return (
    '# Voltlane edge secret key (secp256k1), hex. Keep it private (mode 0600) and back it up:\n' +
    `# clients check this key when they reconnect. Public key: ${pub}\n` +
    `${Buffer.from(keyPair.secretKey).toString('hex')}\n`
  );
}

function parse(path: string, text: string): KeyPair {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) {
    throw new KeyFileError(path, `corrupt: expected exactly one line holding the secret key, found ${lines.length}`);
  }
  const hex = lines[0]!;
  if (!SECRET_HEX.test(hex)) {
    throw new KeyFileError(path, `corrupt: the secret key must be 64 hex characters (32 bytes), found ${hex.length} characters`);
  }
  const kp = keyPairFromSecret(Uint8Array.from(Buffer.from(hex, 'hex')));
  if (kp instanceof ProtocolError) throw new KeyFileError(path, `corrupt: ${kp.message}`);
  return kp;
}

/**
 * Reads the key pair from `path`. Throws KeyFileError if the file is missing, not a regular file,
 * accessible by others, writable by its group, or does not hold a valid secret key.
 */
export function readKeyFile(path: string): KeyPair {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const why = errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be opened (${errnoCode(e) ?? String(e)})`;
    throw new KeyFileError(path, why, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KeyFileError(path, 'is not a regular file');
    // Owner and group may read it (0640: root:voltlane, a mounted secret); others may not touch it, nor the group write it.
    if (CHECK_MODE && (st.mode & UNSAFE_BITS) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      const who = (st.mode & 0o007) !== 0 ? 'is accessible by others' : 'is writable or executable by its group';
      throw new KeyFileError(
        path,
        `${who} (mode ${mode}); it holds a secret key, so restrict it: chmod 600 ${path} (or 640 to let its group read it)`,
      );
    }
    if (st.size > MAX_FILE_SIZE) throw new KeyFileError(path, `corrupt: ${st.size} bytes is too large for a key file`);
    return parse(path, readFileSync(fd, 'utf8'));
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to a fresh 0600 temp file beside `path`, synced to disk; returns the temp path. */
function writeTemp(path: string, text: string): string {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE); // the umask may have narrowed it; never wider than 0600 either way
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Best effort: make a rename or link in `dir` durable. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not supported on every platform or file system; the file itself is already synced.
  }
}

function checkPair(path: string, keyPair: KeyPair): void {
  const derived = keyPairFromSecret(keyPair.secretKey);
  if (derived instanceof ProtocolError) throw new KeyFileError(path, `refusing to write: ${derived.message}`);
  if (!constantTimeEqual(derived.publicKey, keyPair.publicKey)) {
    throw new KeyFileError(path, 'refusing to write: the public key does not belong to the secret key');
  }
}

/**
 * Atomically writes (or replaces) the key file: a 0600 temp file in the same directory, synced,
 * then renamed over `path`. Creates the parent directory (0700) if missing.
 */
export function writeKeyFile(path: string, keyPair: KeyPair): void {
  checkPair(path, keyPair);
  let tmp: string;
  try {
    tmp = writeTemp(path, render(keyPair));
  } catch (e) {
    throw new KeyFileError(path, `cannot be written (${errnoCode(e) ?? String(e)})`, { cause: e });
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw new KeyFileError(path, `cannot be written (${errnoCode(e) ?? String(e)})`, { cause: e });
  }
  syncDir(dirname(path));
}

/**
 * Publishes a temp file at `path` only if nothing is there yet (a hard link fails on EEXIST), so
 * two edges starting at once cannot replace each other's key. Returns false if `path` exists.
 */
function publishNew(tmp: string, path: string): boolean {
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    // The file system has no hard links: fall back to a rename (atomic, but may replace a racer's file).
    renameSync(tmp, path);
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw e;
    }
  }
}

/**
 * Loads the edge key pair from `path`, or creates the file with a fresh key pair if it does not
 * exist. An existing file that is unsafe or corrupt is never replaced: that throws KeyFileError.
 */
export function loadOrCreateKeyFile(path: string): { keyPair: KeyPair; created: boolean } {
  try {
    return { keyPair: readKeyFile(path), created: false };
  } catch (e) {
    if (!(e instanceof KeyFileError) || errnoCode(e.cause) !== 'ENOENT') throw e;
  }
  const keyPair = generateKeyPair();
  let published: boolean;
  try {
    published = publishNew(writeTemp(path, render(keyPair)), path);
  } catch (e) {
    throw new KeyFileError(path, `cannot be created (${errnoCode(e) ?? String(e)})`, { cause: e });
  }
  if (!published) return { keyPair: readKeyFile(path), created: false };
  syncDir(dirname(path));
  return { keyPair, created: true };
}
