// Descriptions of machines generated from their definitions (states, events, guards, delays, actions):
// a JSON model and its Mermaid and Graphviz renderings. Never hand-drawn: everything is read off the StateNodes.
import type { AnyStateMachine } from 'xstate';
import { sessionMachine } from './session.js';
import { supervisorMachine } from './supervisor.js';
import { ownActions, toXStateJson } from './xstate-config.js';

export type DescribeFormat = 'mermaid' | 'json' | 'dot' | 'xstate';
export const DESCRIBE_FORMATS: readonly DescribeFormat[] = ['mermaid', 'json', 'dot', 'xstate'];

/** One transition as written in the definition. */
export interface TransitionInfo {
  /** Event type; `after <delay>` for delayed transitions, `always` for eventless ones. */
  event: string;
  /** Dotted path of the target from the machine root (e.g. "away.stale"); null for a targetless transition. */
  target: string | null;
  guard: string | null;
  /** Name of the delay for `after` transitions. */
  delay: string | null;
  actions: string[];
}

export interface StateInfo {
  /** Dotted path from the machine root ("" is the root). */
  path: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Dotted path of the initial child, for compound states. */
  initial: string | null;
  entry: string[];
  exit: string[];
  transitions: TransitionInfo[];
  children: StateInfo[];
}

export interface MachineInfo {
  id: string;
  root: StateInfo;
  /** Every event type the machine handles (delays and eventless transitions excluded). */
  events: string[];
  guards: string[];
  delays: string[];
  actions: string[];
}

/** The machines `voltlane machines` describes, by name. */
export const MACHINES: Readonly<Record<string, AnyStateMachine>> = {
  session: sessionMachine,
  supervisor: supervisorMachine,
};

/** The parts of an xstate StateNode these descriptions read. */
export interface NodeLike {
  key: string;
  id: string;
  description?: string;
  path: string[];
  type: StateInfo['type'];
  states: Record<string, NodeLike>;
  entry: unknown[];
  exit: unknown[];
  transitions: Map<string, TransitionLike[]>;
  after: Array<TransitionLike & { delay: unknown }>;
  always?: TransitionLike[];
  initial?: { target: NodeLike[] };
}

export interface TransitionLike {
  target?: NodeLike[];
  reenter?: boolean;
  guard?: unknown;
  actions: unknown[];
  eventType: string | null;
}

function nameOf(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'function') return x.name || 'inline';
  if (typeof x === 'object' && x !== null && 'type' in x && typeof x.type === 'string') return x.type;
  return 'inline';
}

function describeTransition(t: TransitionLike, event: string, delay: string | null): TransitionInfo {
  const target = t.target && t.target.length > 0 ? t.target.map((n) => n.path.join('.')).join(',') : null;
  return { event, target, guard: t.guard === undefined ? null : nameOf(t.guard), delay, actions: t.actions.map(nameOf) };
}

function describeNode(n: NodeLike): StateInfo {
  const transitions: TransitionInfo[] = [];
  for (const [event, list] of n.transitions) {
    if (event.startsWith('xstate.after.')) continue;
    for (const t of list) transitions.push(describeTransition(t, event, null));
  }
  for (const t of n.after) {
    const delay = typeof t.delay === 'number' ? `${t.delay}ms` : nameOf(t.delay);
    transitions.push(describeTransition(t, `after ${delay}`, delay));
  }
  for (const t of n.always ?? []) transitions.push(describeTransition(t, 'always', null));
  const initialTarget = n.type === 'compound' ? n.initial?.target[0] : undefined;
  return {
    path: n.path.join('.'),
    key: n.key,
    type: n.type,
    initial: initialTarget ? initialTarget.path.join('.') : null,
    entry: ownActions(n.entry).map(nameOf),
    exit: ownActions(n.exit).map(nameOf),
    transitions,
    children: Object.values(n.states).map(describeNode),
  };
}

function walk(s: StateInfo, f: (s: StateInfo) => void): void {
  f(s);
  for (const c of s.children) walk(c, f);
}

/** The JSON model of one machine, read off its state nodes. */
export function describeMachine(machine: AnyStateMachine): MachineInfo {
  const root = describeNode(machine.root as unknown as NodeLike);
  const events = new Set<string>();
  const guards = new Set<string>();
  const delays = new Set<string>();
  const actions = new Set<string>();
  walk(root, (s) => {
    for (const a of [...s.entry, ...s.exit]) actions.add(a);
    for (const t of s.transitions) {
      if (t.delay !== null) delays.add(t.delay);
      else if (t.event !== 'always') events.add(t.event);
      if (t.guard !== null) guards.add(t.guard);
      for (const a of t.actions) actions.add(a);
    }
  });
  const sorted = (x: Set<string>) => [...x].sort();
  return { id: machine.id, root, events: sorted(events), guards: sorted(guards), delays: sorted(delays), actions: sorted(actions) };
}

function label(t: TransitionInfo): string {
  return t.guard ? `${t.event} [${t.guard}]` : t.event;
}

/** Mermaid state ids cannot hold dots: "session" + "away.stale" -> "session_away_stale". */
function mermaidId(machineId: string, path: string): string {
  return [machineId, ...(path ? path.split('.') : [])].join('_').replace(/[^A-Za-z0-9_]/g, '_');
}

function mermaidState(m: MachineInfo, s: StateInfo, indent: string, out: string[]): void {
  const id = mermaidId(m.id, s.path);
  if (s.children.length === 0) {
    out.push(`${indent}state "${s.key}" as ${id}`);
    return;
  }
  out.push(`${indent}state "${s.key}" as ${id} {`);
  if (s.initial !== null) out.push(`${indent}  [*] --> ${mermaidId(m.id, s.initial)}`);
  for (const c of s.children) mermaidState(m, c, indent + '  ', out);
  for (const c of s.children) if (c.type === 'final') out.push(`${indent}  ${mermaidId(m.id, c.path)} --> [*]`);
  out.push(`${indent}}`);
}

function mermaidEdges(m: MachineInfo, out: string[]): void {
  walk(m.root, (s) => {
    for (const t of s.transitions) {
      // A targetless transition without actions only says "ignored here"; it is in the JSON, not the picture.
      if (t.target === null && t.actions.length === 0) continue;
      const from = mermaidId(m.id, s.path);
      const to = t.target === null ? from : mermaidId(m.id, t.target);
      out.push(`  ${from} --> ${to} : ${label(t)}`);
    }
  });
}

/** One Mermaid stateDiagram-v2 holding each machine as a composite state. */
export function toMermaid(machines: readonly MachineInfo[]): string {
  const out = ['stateDiagram-v2'];
  for (const m of machines) mermaidState(m, m.root, '  ', out);
  for (const m of machines) mermaidEdges(m, out);
  return out.join('\n') + '\n';
}

function dotQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A leaf to anchor edges of a compound state (Graphviz draws edges between nodes, clipped at clusters). */
function anchor(s: StateInfo): StateInfo {
  let n = s;
  while (n.children.length > 0) n = n.children.find((c) => c.path === n.initial) ?? n.children[0]!;
  return n;
}

/** Graphviz: one digraph per machine, compound states as clusters. */
export function toDot(machines: readonly MachineInfo[]): string {
  const out: string[] = [];
  for (const m of machines) {
    const byPath = new Map<string, StateInfo>();
    walk(m.root, (s) => byPath.set(s.path, s));
    const id = (s: StateInfo) => dotQuote(`${m.id}.${s.path}`);
    out.push(`digraph ${dotQuote(m.id)} {`, '  compound=true;', '  rankdir=LR;', '  node [shape=box, style=rounded];');
    const nodes = (s: StateInfo, indent: string) => {
      if (s.children.length === 0) {
        out.push(`${indent}${id(s)} [label=${dotQuote(s.key)}${s.type === 'final' ? ', peripheries=2' : ''}];`);
        return;
      }
      out.push(`${indent}subgraph ${dotQuote(`cluster_${m.id}.${s.path}`)} {`, `${indent}  label=${dotQuote(s.key)};`);
      for (const c of s.children) nodes(c, indent + '  ');
      out.push(`${indent}}`);
    };
    for (const c of m.root.children) nodes(c, '  ');
    if (m.root.initial !== null) {
      out.push(`  ${dotQuote(`${m.id}.__start`)} [shape=point];`);
      out.push(`  ${dotQuote(`${m.id}.__start`)} -> ${id(anchor(byPath.get(m.root.initial)!))};`);
    }
    walk(m.root, (s) => {
      for (const t of s.transitions) {
        if (t.target === null && t.actions.length === 0) continue;
        const to = t.target === null ? s : byPath.get(t.target.split(',')[0]!)!;
        const attrs = [`label=${dotQuote(label(t))}`];
        if (s.children.length > 0 && s.path !== '') attrs.push(`ltail=${dotQuote(`cluster_${m.id}.${s.path}`)}`);
        if (to.children.length > 0) attrs.push(`lhead=${dotQuote(`cluster_${m.id}.${to.path}`)}`);
        const from = s.path === '' ? null : anchor(s);
        // Root-level transitions (e.g. the supervisor's edge.shutdown) apply in every state: drawn from the start point.
        const src = from === null ? dotQuote(`${m.id}.__start`) : id(from);
        out.push(`  ${src} -> ${id(anchor(to))} [${attrs.join(', ')}];`);
      }
    });
    out.push('}');
  }
  return out.join('\n') + '\n';
}

/** The text `voltlane machines` prints for these machines in this format. */
export function renderMachines(names: readonly string[], format: DescribeFormat): string {
  const infos = names.map((n) => {
    const m = MACHINES[n];
    if (!m) throw new Error(`unknown machine ${JSON.stringify(n)} (known: ${Object.keys(MACHINES).join(', ')})`);
    return describeMachine(m);
  });
  if (format === 'xstate') return toXStateJson(names.map((n) => MACHINES[n]!));
  if (format === 'json') return JSON.stringify({ machines: infos }, null, 2) + '\n';
  if (format === 'dot') return toDot(infos);
  return toMermaid(infos);
}
