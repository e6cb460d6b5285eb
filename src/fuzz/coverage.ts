// Transition coverage of the session machine: every transition xstate/graph finds in the definition, and which of
// them the session actors actually took (recorded from the edge's inspection events).
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

/** "source --event--> target", with state node ids. */
export type TransitionKey = string;

const key = (source: string, event: string, target: string): TransitionKey => `${source} --${event || '(always)'}--> ${target}`;

export class TransitionCoverage {
  readonly transitions = new Set<TransitionKey>();
  readonly states = new Set<string>();
  readonly hit = new Map<TransitionKey, number>();
  readonly statesHit = new Set<string>();

  constructor(machine: AnyStateMachine) {
    const walk = (n: DirectedGraphNode): void => {
      this.states.add(n.id);
      for (const e of n.edges) this.transitions.add(key(e.source.id, e.label.text, e.target.id));
      for (const c of n.children) walk(c);
    };
    walk(toDirectedGraph(machine));
  }

  /** An inspection observer: pass it as EdgeOptions.inspect. */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.microstep') return;
    const ts = (ev as unknown as { _transitions: Array<{ source: { id: string }; eventType: string; target?: Array<{ id: string }> }> })._transitions;
    for (const t of ts) {
      for (const target of t.target ?? []) {
        const k = key(t.source.id, t.eventType, target.id);
        if (!this.transitions.has(k)) continue;
        this.hit.set(k, (this.hit.get(k) ?? 0) + 1);
        this.statesHit.add(t.source.id);
        for (let id = target.id; id; id = id.slice(0, Math.max(0, id.lastIndexOf('.')))) this.statesHit.add(id);
      }
    }
  };

  missingTransitions(): TransitionKey[] {
    return [...this.transitions].filter((t) => !this.hit.has(t));
  }

  missingStates(): string[] {
    return [...this.states].filter((s) => !this.statesHit.has(s));
  }

  /** One line per transition with its count. */
  table(): string {
    return [...this.transitions].map((t) => `${String(this.hit.get(t) ?? 0).padStart(6)}  ${t}`).join('\n');
  }
}
