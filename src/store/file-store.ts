// The embedded session store: a state file (every session, rewritten whole: at start, at graceful shutdown and
// when the journal grows long) and a journal (lifecycle records appended once per event-loop turn) beside it.
import {
  closeSync,
  fchmodSync,
  fdatasync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { beforeNextSocketWrite } from '../io/writer.js';
import { addressField, count, decodeLine, encodeLine, fromBase64, fromHex, jsonLine, splitLines, toBase64, toHex } from './lines.js';
import type { IdBlock, LoadedState, SessionStore, StoreEvents, StoredSession } from './store.js';
import { errnoCode } from '../errno.js';

export const STATE_FILE = 'voltlane.state';
export const JOURNAL_FILE = 'voltlane.journal';
const FORMAT = 1;
const FILE_MODE = 0o600;

export interface FileStoreOptions {
  /** Directory of the state file and the journal (the key file's). */
  dir: string;
  /** Hex of the edge's public key, recorded so that sessions of another key are not restored. */
  edgePublicKey: string;
  events: StoreEvents;
  /**
   * Record sessions (default true). False keeps only the id counter, so ids are still never reused across
   * restarts; then no session survives the process.
   */
  sessions?: boolean;
  /** Sync the journal to disk this often, in ms, when it was written to (default 1000; 0: never). */
  syncIntervalMs?: number;
  /** Journal size in bytes past which the state file is rewritten and the journal restarted (default 16 MiB). */
  compactBytes?: number;
}

/** A session while being read back. */
interface Loading {
  id: number;
  clientKey: Uint8Array;
  createdAt: number;
  staleSince: number | null;
  address?: string;
  snapshot: unknown;
  replay: Uint8Array[];
}

export class FileStore implements SessionStore {
  readonly kind = 'file';
  readonly statePath: string;
  readonly journalPath: string;
  readonly #o: Required<Omit<FileStoreOptions, 'events'>> & { events: StoreEvents };
  #gen = 0;
  /** Ids below this are reserved (journaled) or issued. */
  #reserved = 1;
  #fd: number | null = null;
  #journalBytes = 0;
  #batch: string[] = [];
  #armed = false;
  #dirty = false;
  #syncTimer: NodeJS.Timeout | null = null;
  #failing = false;
  #closed = false;
  #source: (() => Iterable<StoredSession>) | null = null;

  constructor(o: FileStoreOptions) {
    this.#o = { sessions: true, syncIntervalMs: 1000, compactBytes: 16 * 1024 * 1024, ...o };
    this.statePath = join(o.dir, STATE_FILE);
    this.journalPath = join(o.dir, JOURNAL_FILE);
  }

  // ------------------------------------------------------------------ load

  async load(): Promise<LoadedState> {
    const problems: string[] = [];
    const sessions = new Map<number, Loading>();
    let nextId = 1;
    let stoppedAt: number | null = null;
    let edgeKey: string | null = null;
    let found = false;
    let stateGen = -1;

    // The state file.
    const state = this.#read(this.statePath, problems);
    if (state !== null) {
      found = true;
      const bad: string[] = [];
      const { lines, torn } = splitLines(state);
      if (torn !== null) lines.push(torn), bad.push('cut short');
      let ended = false;
      let expected = -1;
      lines.forEach((line, i) => {
        const d = decodeLine(line);
        if (!d.ok) return void bad.push(`line ${i + 1}: ${d.problem}`);
        const r = d.record;
        if (i === 0) {
          if (r.t !== 'state' || r.v !== FORMAT) return void bad.push('line 1: not a Voltlane state file header');
          stateGen = count(r.gen) ?? 0;
          nextId = Math.max(nextId, count(r.nextId) ?? 1);
          stoppedAt = count(r.stoppedAt);
          edgeKey = typeof r.edgeKey === 'string' ? r.edgeKey : null;
          expected = count(r.sessions) ?? -1;
          return;
        }
        if (r.t === 'end') return void (ended = true);
        if (r.t !== 's') return void bad.push(`line ${i + 1}: unknown record`);
        const s = readSession(r);
        if (s === null) return void bad.push(`line ${i + 1}: malformed session`);
        sessions.set(s.id, s);
        nextId = Math.max(nextId, s.id + 1);
      });
      if (!ended) bad.push('no end record (truncated)');
      else if (expected >= 0 && expected !== sessions.size) bad.push(`${expected} sessions announced, ${sessions.size} read`);
      if (stateGen < 0 && bad.length === 0) bad.push('no header');
      if (bad.length > 0) {
        stoppedAt = null; // not a complete graceful state: treat the sessions as after a crash
        this.#damaged(this.statePath, bad, problems);
      }
    }

    // The journal, over the state file.
    const journal = this.#read(this.journalPath, problems);
    let applied = 0;
    if (journal !== null) {
      found = true;
      const bad: string[] = [];
      const { lines, torn } = splitLines(journal);
      if (torn !== null) this.#o.events.onInfo?.('store.journal_torn_tail: ignored the last, incomplete record', { path: this.journalPath });
      let use = true;
      lines.forEach((line, i) => {
        const d = decodeLine(line);
        if (!d.ok) return void bad.push(`line ${i + 1}: ${d.problem}`);
        const r = d.record;
        if (r.t === 'journal') {
          const gen = count(r.gen) ?? 0;
          nextId = Math.max(nextId, count(r.nextId) ?? 1);
          // A journal older than the state file was already folded into it (a crash between the two writes).
          use = gen >= stateGen;
          return;
        }
        if (r.t === 'ids') return void (nextId = Math.max(nextId, count(r.end) ?? 1));
        const id = count(r.id);
        if (id === null || id === 0) return void bad.push(`line ${i + 1}: malformed record`);
        nextId = Math.max(nextId, id + 1);
        if (!use) return;
        applied++;
        if (r.t === 'c') {
          const clientKey = fromHex(r.k);
          const at = count(r.at);
          if (clientKey === null || at === null) return void bad.push(`line ${i + 1}: malformed created record`);
          sessions.set(id, { id, clientKey, createdAt: at, staleSince: null, ...address(r), snapshot: null, replay: [] });
        } else if (r.t === 'st') {
          const s = sessions.get(id);
          if (s) (s.staleSince = count(r.at)), Object.assign(s, address(r));
        } else if (r.t === 'rs') {
          const s = sessions.get(id);
          // Its replay buffer was handed to the new socket: never replay it twice.
          if (s) (s.staleSince = null), (s.replay = []), Object.assign(s, address(r));
        } else if (r.t === 'e') {
          sessions.delete(id);
        } else bad.push(`line ${i + 1}: unknown record`);
      });
      if (bad.length > 0) this.#damaged(this.journalPath, bad, problems);
    }
    if (applied > 0) stoppedAt = null; // the process ran on after the state file was written: it did not stop cleanly

    if (edgeKey !== null && edgeKey !== this.#o.edgePublicKey && sessions.size > 0) {
      const msg = `the sessions were created under another edge key (${edgeKey}); their clients would refuse this edge's key, so they are dropped`;
      this.#o.events.onError(`store.key_changed: ${msg}`, { path: this.statePath });
      problems.push(msg);
      sessions.clear();
    }
    if (stoppedAt !== null) for (const s of sessions.values()) s.staleSince ??= stoppedAt;
    const list = [...sessions.values()].sort((a, b) => a.id - b.id);
    if (!this.#o.sessions) list.length = 0;
    this.#reserved = nextId;
    this.#gen = Math.max(stateGen, 0);
    // Start this process's generation: what was read becomes the state file, the journal starts empty.
    this.#checkpoint(list, null);
    this.#startSyncTimer();
    return { sessions: list, nextId, stoppedAt, found, edgePublicKey: edgeKey, problems };
  }

  #read(path: string, problems: string[]): string | null {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return null;
      this.#damaged(path, [`cannot be read (${errnoCode(e) ?? String(e)})`], problems);
      return null;
    }
  }

  /** Moves a damaged file aside (kept for inspection), logs an error naming it. */
  #damaged(path: string, bad: string[], problems: string[]): void {
    const aside = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    let moved = true;
    try {
      renameSync(path, aside);
    } catch {
      moved = false;
    }
    const what = bad.length > 3 ? `${bad.slice(0, 3).join('; ')}; and ${bad.length - 3} more` : bad.join('; ');
    const msg = `${path}: ${what}; ${moved ? `moved aside to ${aside}` : 'could not be moved aside'}; starting with what could be read`;
    problems.push(msg);
    this.#o.events.onError(`store.damaged: ${msg}`, { path });
  }

  // ------------------------------------------------------------------ ids

  async allocateIds(n: number): Promise<IdBlock> {
    const first = this.#reserved;
    const end = first + Math.max(1, Math.floor(n));
    this.#reserved = end;
    this.#batch.push(encodeLine({ t: 'ids', end }));
    this.#flushBatch(); // durable before any id of the block is handed out
    return { first, end };
  }

  // ------------------------------------------------------------------ lifecycle records

  // The records of a drop, a resume and a new session are written for every client of a mass event: their JSON
  // is built by hand (ids and times are safe integers; the address as JSON.stringify writes it), the same text
  // as encodeLine's, for half its cost.

  created(id: number, clientKey: Uint8Array, at: number, address?: string): void {
    if (this.#o.sessions) this.#queue(jsonLine(`{"t":"c","id":${id},"k":"${toHex(clientKey)}","at":${at}${addressField(address)}}`));
  }

  stale(id: number, since: number, address?: string): void {
    if (this.#o.sessions) this.#queue(jsonLine(`{"t":"st","id":${id},"at":${since}${addressField(address)}}`));
  }

  resumed(id: number, address?: string): void {
    if (this.#o.sessions) this.#queue(jsonLine(`{"t":"rs","id":${id}${addressField(address)}}`));
  }

  ended(id: number, reason: string): void {
    if (this.#o.sessions) this.#queue(encodeLine({ t: 'e', id, r: reason }));
  }

  #queue(line: string): void {
    if (this.#closed) return;
    this.#batch.push(line);
    if (!this.#armed) {
      this.#armed = true;
      beforeNextSocketWrite(this.#flushBatch);
    }
  }

  /** Appends the batch to the journal: one write per turn. */
  readonly #flushBatch = (): void => {
    this.#armed = false;
    const batch = this.#batch;
    if (batch.length === 0 || this.#fd === null) return;
    this.#batch = [];
    const text = batch.length === 1 ? batch[0]! : batch.join('');
    try {
      const buf = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(this.#fd, buf, off);
      this.#journalBytes += buf.length;
      this.#dirty = true;
      if (this.#failing) {
        this.#failing = false;
        this.#o.events.onInfo?.('store.journal_recovered', { path: this.journalPath });
      }
    } catch (err) {
      if (!this.#failing) {
        this.#failing = true;
        this.#o.events.onError(`store.journal_write_failed: ${this.journalPath}: ${errnoCode(err) ?? String(err)}; sessions created meanwhile may not survive a crash`, { path: this.journalPath, err });
      }
      return;
    }
    if (this.#journalBytes > this.#o.compactBytes && this.#source !== null) this.#compact();
  };

  #compact(): void {
    const source = this.#source;
    if (source === null) return;
    const t0 = performance.now();
    this.#checkpoint(source(), null);
    this.#o.events.onInfo?.('store.compacted', { path: this.statePath, ms: Math.round(performance.now() - t0) });
  }

  // ------------------------------------------------------------------ whole-state writes

  attach(source: () => Iterable<StoredSession>): void {
    this.#source = source;
  }

  async saveAll(sessions: Iterable<StoredSession>, stoppedAt: number): Promise<void> {
    this.#flushBatch();
    this.#checkpoint(sessions, stoppedAt);
  }

  /**
   * Writes the state file of the next generation (temp file, fsync, rename), then starts that generation's
   * journal. A crash between the two leaves an older journal, which the next load ignores.
   */
  #checkpoint(sessions: Iterable<StoredSession>, stoppedAt: number | null): void {
    const gen = this.#gen + 1;
    const parts: string[] = [];
    let n = 0;
    if (this.#o.sessions) {
      for (const s of sessions) {
        parts.push(
          encodeLine({
            t: 's',
            id: s.id,
            k: toHex(s.clientKey),
            at: s.createdAt,
            st: s.staleSince,
            ad: s.address,
            snap: s.snapshot ?? null,
            r: s.replay.map(toBase64),
          }),
        );
        n++;
      }
    }
    const header = encodeLine({
      t: 'state',
      v: FORMAT,
      gen,
      nextId: this.#reserved,
      stoppedAt,
      savedAt: Date.now(),
      edgeKey: this.#o.edgePublicKey,
      sessions: n,
    });
    try {
      writeAtomic(this.statePath, [header, ...parts, encodeLine({ t: 'end', sessions: n })]);
      this.#gen = gen;
      this.#openJournal();
    } catch (err) {
      this.#o.events.onError(`store.state_write_failed: ${this.statePath}: ${errnoCode(err) ?? String(err)}`, { path: this.statePath, err });
    }
  }

  /** Replaces the journal with an empty one of the current generation, and keeps it open for appends. */
  #openJournal(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
    const header = encodeLine({ t: 'journal', v: FORMAT, gen: this.#gen, nextId: this.#reserved });
    writeAtomic(this.journalPath, [header]);
    this.#fd = openSync(this.journalPath, 'a', FILE_MODE);
    this.#journalBytes = Buffer.byteLength(header);
    this.#dirty = false;
  }

  #startSyncTimer(): void {
    if (this.#o.syncIntervalMs <= 0 || this.#syncTimer) return;
    this.#syncTimer = setInterval(() => {
      if (!this.#dirty || this.#fd === null) return;
      this.#dirty = false;
      fdatasync(this.#fd, () => {});
    }, this.#o.syncIntervalMs);
    this.#syncTimer.unref();
  }

  // ------------------------------------------------------------------ flush / close

  async flush(): Promise<void> {
    this.#flushBatch();
    if (this.#fd !== null && this.#dirty) {
      this.#dirty = false;
      try {
        fsyncSync(this.#fd);
      } catch (err) {
        this.#o.events.onError(`store.journal_sync_failed: ${this.journalPath}: ${errnoCode(err) ?? String(err)}`, { path: this.journalPath, err });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    this.#syncTimer = null;
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

function readSession(r: Record<string, unknown>): Loading | null {
  const id = count(r.id);
  const clientKey = fromHex(r.k);
  const createdAt = count(r.at);
  const staleSince = r.st === null ? null : count(r.st);
  if (id === null || id === 0 || clientKey === null || createdAt === null || (r.st !== null && staleSince === null)) return null;
  if (!Array.isArray(r.r)) return null;
  const replay: Uint8Array[] = [];
  for (const p of r.r) {
    const b = fromBase64(p);
    if (b === null) return null;
    replay.push(b);
  }
  return { id, clientKey, createdAt, staleSince, ...address(r), snapshot: r.snap ?? null, replay };
}

/** A record's client address (`ad`), when it has a plausible one. */
function address(r: Record<string, unknown>): { address?: string } {
  return typeof r.ad === 'string' && r.ad.length > 0 && r.ad.length <= 64 ? { address: r.ad } : {};
}

/** Writes `parts` to a fresh 0600 temp file beside `path`, syncs it, renames it over `path`, syncs the directory. */
function writeAtomic(path: string, parts: string[]): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
    // Batch the parts into large writes.
    let chunk: string[] = [];
    let size = 0;
    const put = (): void => {
      if (chunk.length === 0) return;
      const buf = Buffer.from(chunk.join(''), 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
      chunk = [];
      size = 0;
    };
    for (const p of parts) {
      chunk.push(p);
      size += p.length;
      if (size > 1 << 20) put();
    }
    put();
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // not supported everywhere; the file itself is synced
  }
}
