// A session away without an actor persists and restores like one with: the snapshot written for it is the one
// XState writes for the same state, and a restore without an actor keeps its resume count for the actor made later.
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../../src/actors/replay-buffer.js';
import { awaySnapshot } from '../../../src/actors/session-effects.js';
import { restoreSession, toStored } from '../../../src/actors/session-persistence.js';
import { Session } from '../../../src/actors/session.js';
import { sessionMachine } from '../../../src/machines/session.js';

const key = Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 2 : i));

function ctx(bad: number[] = []) {
  const parent = createActor(sessionMachine, { input: { id: 999 } });
  return { machine: sessionMachine, pool: new SlabPool(), parent, onBadSnapshot: (id: number) => bad.push(id), creating: () => {} };
}

describe('sessions away without an actor', () => {
  it('persist as XState persists the same state', () => {
    const s = new Session(7, key, '127.0.0.3');
    s.awaySince = 1234;
    s.resumes = 3;
    const actor = createActor(sessionMachine, { input: { id: 7 }, snapshot: awaySnapshot(sessionMachine, 7, 1234, 3) });
    expect(toStored(s).snapshot).toEqual(JSON.parse(JSON.stringify(actor.getPersistedSnapshot())));
    // Live without an actor after resumes that passed without one.
    s.awaySince = null;
    const live = createActor(sessionMachine, { input: { id: 7 }, snapshot: awaySnapshot(sessionMachine, 7, null, 3) });
    expect(toStored(s).snapshot).toEqual(JSON.parse(JSON.stringify(live.getPersistedSnapshot())));
    s.awaySince = 1234;
    s.resumes = 0;
    expect(toStored(s)).toMatchObject({ id: 7, staleSince: 1234, address: '127.0.0.3', snapshot: null });
  });

  it('restore without an actor, keeping the resume count of a fitting snapshot; a snapshot that does not fit is reported', () => {
    const live = createActor(sessionMachine, { input: { id: 8 } }).start();
    live.send({ type: 'socket.closed', reason: 'x', at: 10 });
    const stored = toStored(Object.assign(new Session(8, key, '127.0.0.4'), { actor: live }));
    const fitting = { ...stored, snapshot: { ...(stored.snapshot as object), context: { ...(stored.snapshot as { context: object }).context, resumes: 5 } } };
    const bad: number[] = [];
    const s = restoreSession(fitting, ctx(bad), false);
    expect(s.actor).toBeNull();
    expect(s.resumes).toBe(5);
    expect(s.address).toBe('127.0.0.4');
    expect(bad).toEqual([]);
    const odd = restoreSession({ ...stored, snapshot: { status: 'active', value: 'elsewhere', context: { id: 8 } } }, ctx(bad), false);
    expect(odd.resumes).toBe(0);
    expect(bad).toEqual([8]);
    const journalOnly = restoreSession({ ...stored, snapshot: null }, ctx(bad), false);
    expect(journalOnly.resumes).toBe(0);
    expect(bad).toEqual([8]);
  });
});
