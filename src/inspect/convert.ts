// XState inspection events -> the JSON events the Stately inspector reads (the format of @statelyai/inspect 0.7),
// with each machine's definition serialized once, not once per actor.
import type { StatelyActorEvent, StatelyInspectionEvent } from '@statelyai/inspect';
import type { ActorRefLike, AnyActorRef, InspectionEvent } from 'xstate';

/** The @statelyai/inspect wire version these events follow. */
export const STATELY_EVENT_VERSION = '0.7.2';

const definitions = new WeakMap<object, string>();

function definitionOf(actor: AnyActorRef): string {
  const logic = (actor as { logic?: { config?: unknown } }).logic;
  if (!logic || typeof logic !== 'object') return JSON.stringify({ id: actor.id });
  let d = definitions.get(logic);
  if (d === undefined) {
    d = JSON.stringify(logic.config ?? { id: actor.id }, (_k, v: unknown) =>
      typeof v === 'function' ? { type: (v as { name?: string }).name || 'inline' } : v,
    );
    definitions.set(logic, d);
  }
  return d;
}

function machineName(actor: AnyActorRef): string {
  const config = (actor as { logic?: { config?: { id?: string } } }).logic?.config;
  return actor.id === actor.sessionId && config?.id ? config.id : actor.id;
}

/** The actor-registration event for `actor` in its current state (also sent to late-joining inspectors). */
export function actorEvent(ref: ActorRefLike, rootId: string | undefined): StatelyInspectionEvent {
  const actor = ref as AnyActorRef;
  return {
    type: '@xstate.actor',
    name: machineName(actor),
    definition: definitionOf(actor),
    _version: STATELY_EVENT_VERSION,
    createdAt: Date.now().toString(),
    id: null as unknown as string,
    rootId,
    parentId: (actor as { _parent?: AnyActorRef })._parent?.sessionId,
    sessionId: actor.sessionId,
    // Snapshots go out in their JSON form (XState's toJSON leaves out actor refs); no copy is made here.
    snapshot: actor.getSnapshot() as StatelyActorEvent['snapshot'],
  };
}

/** The Stately form of one XState inspection event; null for the kinds the inspector ignores (microsteps, actions). */
export function toStately(ev: InspectionEvent): StatelyInspectionEvent | null {
  switch (ev.type) {
    case '@xstate.actor':
      return actorEvent(ev.actorRef, ev.rootId);
    case '@xstate.event':
      return {
        type: '@xstate.event',
        event: ev.event,
        sourceId: ev.sourceRef?.sessionId,
        sessionId: ev.actorRef.sessionId,
        _version: STATELY_EVENT_VERSION,
        createdAt: Date.now().toString(),
        id: null as unknown as string,
        rootId: ev.rootId,
      };
    case '@xstate.snapshot':
      return {
        type: '@xstate.snapshot',
        event: ev.event,
        snapshot: ev.snapshot,
        sessionId: ev.actorRef.sessionId,
        _version: STATELY_EVENT_VERSION,
        createdAt: Date.now().toString(),
        id: null as unknown as string,
        rootId: ev.rootId,
      };
    default:
      return null;
  }
}
