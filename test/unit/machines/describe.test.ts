// Machine descriptions are read off the definitions: every state, event, guard and delay appears, and the
// README's diagram is exactly what `voltlane machines --format mermaid` prints.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { machinesOutput } from '../../../src/cli/machines.js';
import { describeMachine, toMermaid } from '../../../src/machines/describe.js';
import { sessionMachine } from '../../../src/machines/session.js';

describe('describeMachine', () => {
  it('lists the session machine states, events, guards and delays', () => {
    const d = describeMachine(sessionMachine);
    const paths: string[] = [];
    const walk = (s: typeof d.root) => {
      paths.push(s.path);
      s.children.forEach(walk);
    };
    walk(d.root);
    expect(paths).toEqual(['', 'live', 'live.connected', 'live.challenged', 'away', 'away.stale', 'away.challenged', 'reconnected', 'reaped', 'kept']);
    expect(d.events).toEqual(['edge.kept', 'edge.restored', 'edge.shutdown', 'frame.oversize', 'missed.overflow', 'resume.completed', 'resume.failed', 'resume.passed', 'resume.requested', 'session.kick', 'socket.closed', 'stale.evicted', 'stale.expired']);
    expect(d.guards).toEqual(['isCurrentAttempt', 'isUnannouncedAttempt']);
    // The stale deadline is the edge reaper's, not a delayed event of each session actor.
    expect(d.delays).toEqual([]);
    expect(d.actions).toContain('sendFailure');
  });

  it('follows the definition: a new state or guard shows up in the diagram', () => {
    const m = setup({ guards: { ready: () => true }, delays: { wait: 5 } }).createMachine({
      id: 'toy',
      initial: 'a',
      states: { a: { on: { go: { target: 'b', guard: 'ready' } }, after: { wait: 'c' } }, b: {}, c: { type: 'final' } },
    });
    expect(toMermaid([describeMachine(m)])).toBe(
      [
        'stateDiagram-v2',
        '  state "toy" as toy {',
        '    [*] --> toy_a',
        '    state "a" as toy_a',
        '    state "b" as toy_b',
        '    state "c" as toy_c',
        '    toy_c --> [*]',
        '  }',
        '  toy_a --> toy_b : go [ready]',
        '  toy_a --> toy_c : after wait',
        '',
      ].join('\n'),
    );
  });

  it('prints json and dot, and refuses an unknown format or machine', () => {
    const json = JSON.parse(machinesOutput([], 'json')) as { machines: Array<{ id: string }> };
    expect(json.machines.map((m) => m.id)).toEqual(['session', 'supervisor']);
    const dot = machinesOutput(['supervisor'], 'dot');
    expect(dot).toContain('"supervisor.backingOff" -> "supervisor.connecting" [label="after backoff"]');
    expect(() => machinesOutput([], 'svg')).toThrow(/--format must be one of mermaid, json, dot/);
    expect(() => machinesOutput(['nope'], 'json')).toThrow(/unknown machine "nope"/);
  });
});

describe('README', () => {
  it('shows the diagram `voltlane machines --format mermaid` prints', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const m = /<!-- session-machine:start -->\n```mermaid\n([\s\S]*?)```\n<!-- session-machine:end -->/.exec(readme);
    expect(m, 'README.md has a mermaid block between the session-machine markers').not.toBeNull();
    expect(m![1]).toBe(machinesOutput([], 'mermaid'));
  });
});
