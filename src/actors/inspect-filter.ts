// Which inspection events leave the edge: the supervisor's, and those of the session actors picked for
// inspection (the sample). Session actors join the supervisor's actor system, so inspection is attached once,
// to that system, and filtered here.
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';

export type InspectSink = Observer<InspectionEvent> | ((ev: InspectionEvent) => void);

export class InspectFilter {
  readonly #next: ((ev: InspectionEvent) => void) | null;
  readonly #admit: (id: number) => boolean;
  /** Session actors whose inspection events pass. */
  readonly #inspected = new Set<unknown>();
  /** The supervisor, once created (it announces itself from its constructor, before). */
  supervisor: AnyActorRef | undefined = undefined;
  /** Whether the session actor being created now is inspected: XState announces an actor from its constructor. */
  creating = false;

  constructor(sink: InspectSink | undefined, admit: ((id: number) => boolean) | undefined) {
    this.#next = sink === undefined ? null : typeof sink === 'function' ? sink : (ev) => sink.next?.(ev);
    this.#admit = admit ?? (() => true);
  }

  /** Whether session `id` is to be inspected (asked once, when it is created or restored). */
  wants(id: number): boolean {
    return this.#next !== null && this.#admit(id);
  }

  /** Whether this session actor is inspected (its events pass). */
  has(actor: unknown): boolean {
    return this.#inspected.has(actor);
  }

  /** The `inspect` option of the supervisor's actor system, or undefined when nothing inspects. */
  get observer(): ((ev: InspectionEvent) => void) | undefined {
    const next = this.#next;
    if (next === null) return undefined;
    return (ev) => {
      const ref = ev.actorRef;
      if (ev.type === '@xstate.actor' && this.creating) this.#inspected.add(ref);
      const supervisor = this.supervisor === undefined || ref === this.supervisor;
      if (supervisor || this.#inspected.has(ref)) next(ev);
      if (ev.type === '@xstate.snapshot' && !supervisor && (ev.snapshot as { status?: string }).status !== 'active') {
        this.#inspected.delete(ref);
      }
    };
  }
}
