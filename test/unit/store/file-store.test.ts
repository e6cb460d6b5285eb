import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore, JOURNAL_FILE, STATE_FILE } from '../../../src/store/file-store.js';
import type { StoredSession } from '../../../src/store/store.js';

const KEY = '02'.padEnd(66, 'a');
const clientKey = (n: number) => Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 2 : (n + i) & 0xff));

interface Logged {
  errors: { msg: string; path?: string }[];
}

function open(dir: string, edgePublicKey = KEY): { store: FileStore; log: Logged } {
  const log: Logged = { errors: [] };
  const store = new FileStore({
    dir,
    edgePublicKey,
    syncIntervalMs: 0,
    events: { onError: (msg, d) => log.errors.push({ msg, ...(d.path ? { path: d.path } : {}) }) },
  });
  return { store, log };
}

const turn = () => new Promise((r) => setImmediate(r));
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'voltlane-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  dirs.length = 0;
});

describe('FileStore', () => {
  it('first start: nothing found, ids from 1, files 0600', async () => {
    const dir = tmp();
    const { store } = open(dir);
    const st = await store.load();
    expect(st).toMatchObject({ sessions: [], nextId: 1, stoppedAt: null, found: false });
    expect(await store.allocateIds(10)).toEqual({ first: 1, end: 11 });
    expect(statSync(join(dir, STATE_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, JOURNAL_FILE)).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('a crash (no close) loses no journaled session; ended ones stay ended; ids continue above every reserved block', async () => {
    const dir = tmp();
    const a = open(dir).store;
    await a.load();
    const block = await a.allocateIds(100);
    a.created(1, clientKey(1), 1000);
    a.created(2, clientKey(2), 1001);
    a.created(3, clientKey(3), 1002);
    a.stale(2, 5000);
    a.ended(3, 'kick');
    await turn(); // the batch is written at the end of the turn
    // no close: the process "dies" here
    const b = open(dir).store;
    const st = await b.load();
    expect(st.stoppedAt).toBeNull();
    expect(st.sessions.map((s) => [s.id, s.staleSince])).toEqual([
      [1, null],
      [2, 5000],
    ]);
    expect(st.sessions[0]!.clientKey).toEqual(clientKey(1));
    expect(st.nextId).toBe(block.end);
    expect((await b.allocateIds(5)).first).toBe(block.end);
    await b.close();
  });

  it('graceful: saveAll keeps snapshots, replay buffers and the shutdown time; live sessions are stale from then', async () => {
    const dir = tmp();
    const a = open(dir).store;
    await a.load();
    await a.allocateIds(10);
    const sessions: StoredSession[] = [
      { id: 1, clientKey: clientKey(1), createdAt: 10, staleSince: null, snapshot: { value: { live: 'connected' } }, replay: [] },
      { id: 2, clientKey: clientKey(2), createdAt: 11, staleSince: 900, snapshot: null, replay: [Uint8Array.of(1, 2), Uint8Array.of()] },
    ];
    await a.saveAll(sessions, 1234);
    await a.close();
    const b = open(dir).store;
    const st = await b.load();
    expect(st.stoppedAt).toBe(1234);
    expect(st.sessions.map((s) => s.staleSince)).toEqual([1234, 900]);
    expect(st.sessions[0]!.snapshot).toEqual({ value: { live: 'connected' } });
    expect(st.sessions[1]!.replay).toEqual([Uint8Array.of(1, 2), Uint8Array.of()]);
    expect(st.nextId).toBe(11);
    // A resume recorded after the restart drops the replay buffer from what a later crash restores.
    b.resumed(2);
    await turn();
    const c = open(dir).store;
    const st2 = await c.load();
    expect(st2.stoppedAt).toBeNull();
    expect(st2.sessions[1]!.replay).toEqual([]);
    await b.close();
    await c.close();
  });

  it('keeps each session\'s client address (state file and journal): restored sessions count against it in the stale table', async () => {
    const dir = tmp();
    const a = open(dir).store;
    await a.load();
    await a.allocateIds(10);
    await a.saveAll(
      [
        { id: 1, clientKey: clientKey(1), createdAt: 10, staleSince: 500, address: '127.0.0.9', snapshot: null, replay: [] },
        { id: 2, clientKey: clientKey(2), createdAt: 11, staleSince: null, snapshot: null, replay: [] },
      ],
      1000,
    );
    await a.close();
    const b = open(dir).store;
    const st = await b.load();
    expect(st.sessions.map((s) => [s.id, s.address])).toEqual([
      [1, '127.0.0.9'],
      [2, undefined],
    ]);
    // Journaled after the restart: a new session, a resume from another address, then a crash.
    b.created(3, clientKey(3), 2000, '::1');
    b.resumed(1, '127.0.0.10');
    b.stale(1, 2500, '127.0.0.10');
    b.stale(2, 2600, '127.0.0.11');
    await turn();
    const c = open(dir).store;
    const st2 = await c.load();
    expect(st2.sessions.map((s) => [s.id, s.address, s.staleSince])).toEqual([
      [1, '127.0.0.10', 2500],
      [2, '127.0.0.11', 2600],
      [3, '::1', null],
    ]);
    await b.close();
    await c.close();
  });

  it('a damaged state file is moved aside and logged with its name; the readable sessions and the journal still count', async () => {
    const dir = tmp();
    const a = open(dir).store;
    await a.load();
    await a.allocateIds(50);
    a.created(7, clientKey(7), 1);
    await turn();
    // Corrupt the state file written at start: flip a byte in its header line.
    const statePath = join(dir, STATE_FILE);
    writeFileSync(statePath, readFileSync(statePath, 'utf8').replace('"nextId"', '"nextIX"'));
    const { store: b, log } = open(dir);
    const st = await b.load();
    expect(log.errors.some((e) => e.path === statePath && e.msg.includes(statePath))).toBe(true);
    expect(readdirSync(dir).some((f) => f.startsWith(`${STATE_FILE}.damaged-`))).toBe(true);
    expect(st.sessions.map((s) => s.id)).toEqual([7]);
    expect(st.nextId).toBe(51); // from the journal's block record
    await b.close();
  });

  it('garbage in both files: the edge starts, with an error for each file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, STATE_FILE), 'not a state file at all\n\u0000\u0001');
    writeFileSync(join(dir, JOURNAL_FILE), '00000000 {"t":"c"}\n');
    const { store, log } = open(dir);
    const st = await store.load();
    expect(st.sessions).toEqual([]);
    expect(log.errors.map((e) => e.path).sort()).toEqual([join(dir, JOURNAL_FILE), join(dir, STATE_FILE)].sort());
    // and the store works afterwards
    expect((await store.allocateIds(1)).first).toBe(1);
    await store.close();
  });

  it('sessions created under another edge key are not restored, ids still continue', async () => {
    const dir = tmp();
    const a = open(dir).store;
    await a.load();
    await a.allocateIds(20);
    a.created(1, clientKey(1), 1);
    await turn();
    const { store: b, log } = open(dir, '03'.padEnd(66, 'b'));
    const st = await b.load();
    expect(st.sessions).toEqual([]);
    expect(st.nextId).toBe(21);
    expect(log.errors[0]!.msg).toMatch(/another edge key/);
    await b.close();
  });

  it('sessions off: only the id counter is kept', async () => {
    const dir = tmp();
    const mk = () => new FileStore({ dir, edgePublicKey: KEY, sessions: false, syncIntervalMs: 0, events: { onError: () => {} } });
    const a = mk();
    await a.load();
    await a.allocateIds(30);
    a.created(1, clientKey(1), 1);
    await turn();
    await a.saveAll([{ id: 1, clientKey: clientKey(1), createdAt: 1, staleSince: null, snapshot: null, replay: [] }], 5);
    await a.close();
    const b = mk();
    const st = await b.load();
    expect(st.sessions).toEqual([]);
    expect(st.nextId).toBe(31);
    await b.close();
  });
});
