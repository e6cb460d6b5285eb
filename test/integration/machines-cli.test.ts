// `voltlane machines` as a user runs it (the built dist/): `--format xstate` prints configs that xstate's
// createMachine loads into machines with the same states and transitions as the code's, and `--format dot` draws
// the supervisor's root-level transition from the start point.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMachine, getNextSnapshot, type AnyStateMachine, type StateValue } from 'xstate';
import { describeMachine, type StateInfo } from '../../src/machines/describe.js';
import { sessionMachine } from '../../src/machines/session.js';
import { supervisorMachine } from '../../src/machines/supervisor.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm test does it)`);
});

async function voltlane(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return stdout;
}

/** Every atomic state's value ({ live: 'connected' }, 'reaped', ...), read off the code's machine. */
function leafValues(m: AnyStateMachine): StateValue[] {
  const out: StateValue[] = [];
  const walk = (s: StateInfo) => {
    if (s.children.length > 0) return s.children.forEach(walk);
    const parts = s.path.split('.');
    let v: StateValue = parts[parts.length - 1]!;
    for (let i = parts.length - 2; i >= 0; i--) v = { [parts[i]!]: v };
    out.push(v);
  };
  walk(describeMachine(m).root);
  return out;
}

/** One example of every event the machines handle, with fields the guards and assigns read. */
function events(m: AnyStateMachine, attempt: number): Array<{ type: string; [k: string]: unknown }> {
  return describeMachine(m).events.map((type) => ({ type, attempt, at: 1_000, reason: 'test' }));
}

interface Node {
  id: string;
  states: Record<string, Node>;
  transitions: Map<string, Array<{ reenter: boolean }>>;
  always?: Array<{ reenter: boolean }>;
}

/** Which transitions re-enter their target (the states/transitions model does not say). */
function reentering(m: AnyStateMachine): string[] {
  const out: string[] = [];
  const walk = (n: Node) => {
    for (const [event, list] of n.transitions) for (const t of list) if (t.reenter) out.push(`${n.id} ${event}`);
    for (const t of n.always ?? []) if (t.reenter) out.push(`${n.id} always`);
    Object.values(n.states).forEach(walk);
  };
  walk(m.root as unknown as Node);
  return out;
}

/** From every atomic state, every event leads the loaded machine where it leads the code's machine. */
function expectSameBehaviour(code: AnyStateMachine, loaded: AnyStateMachine, context: Record<string, unknown>): number {
  let checked = 0;
  for (const value of leafValues(code)) {
    for (const attempt of [0, 1, 2]) {
      const ctx = { ...context, attempt: 1 };
      for (const ev of events(code, attempt)) {
        const want = getNextSnapshot(code, code.resolveState({ value, context: ctx }), ev as never);
        const got = getNextSnapshot(loaded, loaded.resolveState({ value, context: ctx }), ev as never);
        expect(got.value, `${JSON.stringify(value)} + ${ev.type} (attempt ${attempt})`).toEqual(want.value);
        checked++;
      }
    }
  }
  return checked;
}

describe('voltlane machines --format xstate', () => {
  it('prints configs createMachine loads into the same machines', async () => {
    const configs = JSON.parse(await voltlane('machines', '--format', 'xstate')) as Record<string, unknown>;
    expect(Object.keys(configs)).toEqual(['session', 'supervisor']);
    const code = { session: sessionMachine, supervisor: supervisorMachine } as const;
    for (const name of ['session', 'supervisor'] as const) {
      // Guards and delays are named in the JSON: the loaded machine is given the code's, as one would after importing it.
      const { guards, delays } = code[name].implementations;
      const loaded = createMachine(configs[name] as never).provide({ guards, delays } as never);
      // Same states (paths, types, initial children, entry/exit) and the same transitions (event, target, guard, actions).
      expect(describeMachine(loaded)).toEqual(describeMachine(code[name]));
      expect(reentering(loaded)).toEqual(reentering(code[name]));
      const context = name === 'session' ? { id: 1, staleSince: null, resumes: 0, endReason: null } : (configs[name] as { context: Record<string, unknown> }).context;
      expect(expectSameBehaviour(code[name], loaded, context)).toBeGreaterThan(20);
    }
    // The supervisor's context is data and is carried over; the session's is computed from its input (code).
    expect((configs['supervisor'] as { context: unknown }).context).toEqual({ failures: 0, reconnects: 0, connectedOnce: false, lastError: null });
    expect(configs['session']).not.toHaveProperty('context');
    expect(reentering(sessionMachine)).toEqual(['session edge.restored']);
    // Actions with params keep them; the `after` timers xstate adds are not written as entry/exit actions.
    const text = JSON.stringify(configs);
    expect(text).toContain('{"type":"sendFailure","params":{"reason":"stale timeout"}}');
    expect(text).not.toMatch(/xstate\.|"raise"|"cancel"/);
  });

  it('prints one named machine as a bare config (what Stately imports)', async () => {
    const config = JSON.parse(await voltlane('machines', 'supervisor', '--format', 'xstate')) as { id: string };
    expect(config.id).toBe('supervisor');
    const loaded = createMachine(config as never);
    expect(describeMachine(loaded)).toEqual(describeMachine(supervisorMachine));
  });
});

describe('voltlane machines --format dot', () => {
  it("draws the supervisor's root-level transition from the start point, not from a state", async () => {
    const dot = await voltlane('machines', 'supervisor', '--format', 'dot');
    const lines = dot.split('\n').map((l) => l.trim());
    expect(lines).toContain('"supervisor.__start" [shape=point];');
    expect(lines).toContain('"supervisor.__start" -> "supervisor.connecting";');
    // edge.shutdown is handled on the root (in every state): one edge, from the start point.
    expect(lines.filter((l) => l.includes('edge.shutdown'))).toEqual(['"supervisor.__start" -> "supervisor.draining" [label="edge.shutdown"];']);
    // The start point is declared before any edge uses it, and every edge joins declared nodes.
    const declared = new Set(lines.filter((l) => /^"[^"]+" \[/.test(l) && !l.includes('->')).map((l) => /^"([^"]+)"/.exec(l)![1]));
    for (const l of lines.filter((x) => x.includes('->'))) {
      const [, from, to] = /^"([^"]+)" -> "([^"]+)"/.exec(l)!;
      expect(declared.has(from!) && declared.has(to!), l).toBe(true);
    }
  });
});
