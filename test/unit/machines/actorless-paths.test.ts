// Sessions nobody inspects take three transitions without an actor (src/actors/session-effects.ts): the drop
// (socket.closed from live.connected: socketClosed), a passed resume from away.stale (resume.completed:
// resumedWithoutActor) and a restore (edge.restored: restoredAway). Each applies the machine's effects directly
// and records the state it leaves as awaySince + resumes, from which awaySnapshot builds the actor later. This
// pins those shortcuts to the machine: the state each records is the state the machine reaches, and the machine
// runs exactly the effects each applies. A new action or target on one of these transitions fails here.
import fc from 'fast-check';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { describe, expect, it } from 'vitest';
import { awaySnapshot } from '../../../src/actors/session-effects.js';
import { sessionMachine } from '../../../src/machines/session.js';

const machine = sessionMachine;
const view = (s: AnyMachineSnapshot) => ({ value: s.value, context: s.context });
const types = (actions: Array<{ type: string }>) => actions.map((a) => a.type);

describe('actorless session paths agree with the session machine', () => {
  it('drop from live.connected: away.stale since the drop, effect enteredStale (socketClosed)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(1000), fc.nat(2 ** 40), (id, resumes, at) => {
        const live = awaySnapshot(machine, id, null, resumes);
        const [next, actions] = transition(machine, live, { type: 'socket.closed', reason: 'closed', at });
        expect(view(next)).toEqual(view(awaySnapshot(machine, id, at, resumes)));
        expect(types(actions)).toEqual(['enteredStale']);
      }),
    );
    // A new session without an actor is in the machine's initial state, which is what awaySnapshot(null, 0) is.
    const [init] = initialTransition(machine, { id: 9 });
    expect(view(init)).toEqual(view(awaySnapshot(machine, 9, null, 0)));
  });

  it('unannounced resume from away.stale: live.connected, one more resume, effects leftStale then completeResume (resumedWithoutActor)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(1000), fc.nat(2 ** 40), fc.integer({ min: 1, max: 2 ** 30 }), (id, resumes, since, attempt) => {
        const away = awaySnapshot(machine, id, since, resumes);
        const [next, actions] = transition(machine, away, { type: 'resume.completed', attempt });
        expect(view(next)).toEqual(view(awaySnapshot(machine, id, null, resumes + 1)));
        expect(types(actions)).toEqual(['leftStale', 'completeResume']);
      }),
    );
  });

  it('restore of a session with no actor: away.stale since the restore time (or its own), effect enteredStale (restoredAway)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(1000), fc.nat(2 ** 40), (id, resumes, at) => {
        // Recorded live (a crash, or live at a checkpoint): stale from the restore time.
        const [fromLive, a1] = transition(machine, awaySnapshot(machine, id, null, resumes), { type: 'edge.restored', at });
        expect(view(fromLive)).toEqual(view(awaySnapshot(machine, id, at, resumes)));
        expect(types(a1)).toEqual(['enteredStale']);
      }),
    );
    // Recorded stale: its own stale time is kept (restoreSessions passes it as `since`).
    const [fromAway] = transition(machine, awaySnapshot(machine, 4, 100, 2), { type: 'edge.restored', at: 500 });
    expect(view(fromAway)).toEqual(view(awaySnapshot(machine, 4, 100, 2)));
  });
});
