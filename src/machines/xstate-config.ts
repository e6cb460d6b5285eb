// `voltlane machines --format xstate`: the machines' configs as JSON that xstate's `createMachine` (and Stately's
// import) accepts, read off the state nodes like the other descriptions. Implementations (actions, guards, delays,
// a context computed from input) stay in the code: the JSON names them, as `setup()` does.
import type { AnyStateMachine } from 'xstate';
import type { NodeLike, TransitionLike } from './describe.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Whether a value survives JSON.stringify unchanged (no functions, no class instances, no undefined). */
function isJson(x: unknown): x is Json {
  if (x === null || typeof x === 'string' || typeof x === 'boolean') return true;
  if (typeof x === 'number') return Number.isFinite(x);
  if (Array.isArray(x)) return x.every(isJson);
  if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) return Object.values(x).every(isJson);
  return false;
}

/**
 * An action or guard as a reference: its name, or `{ type, params }` when it has JSON params. An inline function
 * has no name the JSON could refer to; it is written as its function name (or "inline"), to be provided.
 */
function ref(x: unknown): Json {
  if (typeof x === 'string') return x;
  if (typeof x === 'function') return x.name || 'inline';
  if (typeof x === 'object' && x !== null && 'type' in x && typeof x.type === 'string') {
    const params = 'params' in x ? x.params : undefined;
    return params !== undefined && isJson(params) ? { type: x.type, params } : x.type;
  }
  return 'inline';
}

/** The entry/exit actions written in the definition: not the timers xstate adds to a state for its `after`. */
export function ownActions(list: readonly unknown[]): unknown[] {
  return list.filter((a) => {
    if (typeof a !== 'function') return true;
    const f = a as { type?: unknown; id?: unknown; sendId?: unknown };
    const timer = f.type === 'xstate.raise' ? f.id : f.type === 'xstate.cancel' ? f.sendId : undefined;
    return !(typeof timer === 'string' && timer.startsWith('xstate.after.'));
  });
}

function refs(list: readonly unknown[]): Json | undefined {
  if (list.length === 0) return undefined;
  return list.length === 1 ? ref(list[0]) : list.map(ref);
}

/** Targets are written as `#id` of the target node, which resolves the same from any state. */
function transition(t: TransitionLike): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  if (t.target && t.target.length > 0) {
    const targets = t.target.map((n) => `#${n.id}`);
    out['target'] = targets.length === 1 ? targets[0]! : targets;
  }
  if (t.guard !== undefined) out['guard'] = ref(t.guard);
  const actions = refs(t.actions);
  if (actions !== undefined) out['actions'] = actions;
  if (t.reenter === true) out['reenter'] = true;
  return out;
}

function transitions(list: readonly TransitionLike[]): Json {
  const ts = list.map(transition);
  return ts.length === 1 ? ts[0]! : ts;
}

function stateConfig(n: NodeLike): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  if (n.type === 'final' || n.type === 'parallel' || n.type === 'history') out['type'] = n.type;
  if (n.type === 'compound' && n.initial && n.initial.target.length > 0) out['initial'] = n.initial.target[0]!.key;
  if (typeof n.description === 'string') out['description'] = n.description;
  const entry = refs(ownActions(n.entry));
  if (entry !== undefined) out['entry'] = entry;
  const exit = refs(ownActions(n.exit));
  if (exit !== undefined) out['exit'] = exit;
  const on: { [k: string]: Json } = {};
  for (const [event, list] of n.transitions) {
    if (event.startsWith('xstate.after.')) continue;
    on[event] = transitions(list);
  }
  if (Object.keys(on).length > 0) out['on'] = on;
  if (n.after.length > 0) {
    const after: { [k: string]: Json } = {};
    const byDelay = new Map<string, TransitionLike[]>();
    for (const t of n.after) {
      const key = typeof t.delay === 'number' ? String(t.delay) : String(ref(t.delay));
      byDelay.set(key, [...(byDelay.get(key) ?? []), t]);
    }
    for (const [k, list] of byDelay) after[k] = transitions(list);
    out['after'] = after;
  }
  if (n.always && n.always.length > 0) out['always'] = transitions(n.always);
  const children = Object.values(n.states);
  if (children.length > 0) {
    const states: { [k: string]: Json } = {};
    for (const c of children) states[c.key] = stateConfig(c);
    out['states'] = states;
  }
  return out;
}

/** One machine's config: `createMachine(config)` builds a machine with the same states and transitions. */
export function xstateConfig(machine: AnyStateMachine): { [k: string]: Json } {
  const root = machine.root as unknown as NodeLike;
  const config: { [k: string]: Json } = { id: machine.id };
  // A context given as data is part of the config; one computed from input (the session's) is code.
  const context: unknown = (machine.config as { context?: unknown }).context;
  if (context !== undefined && isJson(context)) config['context'] = context;
  return { ...config, ...stateConfig(root) };
}

/** One machine: its config alone (paste it into Stately's import). Several: an object of configs by machine id. */
export function toXStateJson(machines: readonly AnyStateMachine[]): string {
  const value = machines.length === 1 ? xstateConfig(machines[0]!) : Object.fromEntries(machines.map((m) => [m.id, xstateConfig(m)]));
  return JSON.stringify(value, null, 2) + '\n';
}
