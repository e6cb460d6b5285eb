// The lifecycle fuzzer's commands (fast-check model-based testing): each acts on the model and the real system,
// then settles and checks the invariants. Sessions are picked by creation order, so every command always applies.
import fc from 'fast-check';
import type { ResumeKey } from './client-peer.js';
import type { LifecycleModel } from './model.js';
import type { LifecycleSystem } from './system.js';

type Cmd = fc.AsyncCommand<LifecycleModel, LifecycleSystem, false>;

abstract class Base implements Cmd {
  check(m: Readonly<LifecycleModel>): boolean {
    return m.sessions.length > 0;
  }
  async run(m: LifecycleModel, r: LifecycleSystem): Promise<void> {
    await r.tick(m);
    await this.act(m, r);
    await r.settle(m, this.toString());
  }
  abstract act(m: LifecycleModel, r: LifecycleSystem): Promise<void> | void;
  abstract toString(): string;
}

export class Connect extends Base {
  /** `edge`: which running edge of a cluster (modulo their number); undefined for one edge. */
  constructor(readonly maxSessions: number, readonly edge?: number) {
    super();
  }
  override check(m: Readonly<LifecycleModel>): boolean {
    return m.sessions.length < this.maxSessions;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.connect(m, this.edge);
  }
  toString() {
    return this.edge === undefined ? 'connect' : `connect(edge ${this.edge})`;
  }
}

export class ClientSend extends Base {
  constructor(readonly pick: number, readonly n: number, readonly pad: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    r.clientSend(m, m.pick(this.pick)!, this.n, this.pad);
  }
  toString() {
    return `clientSend(#${this.pick}, ${this.n} x ${this.pad} B)`;
  }
}

export class MasterSend extends Base {
  constructor(readonly pick: number, readonly n: number, readonly pad: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    r.masterSend(m, m.pick(this.pick)!, this.n, this.pad);
  }
  toString() {
    return `masterSend(#${this.pick}, ${this.n} x ${this.pad} B)`;
  }
}

/** The master sends one more packet than the missed-packet buffer holds. */
export class Flood extends Base {
  constructor(readonly pick: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    r.masterSend(m, m.pick(this.pick)!, m.config.missedBufferSize + 1, 1);
  }
  toString() {
    return `flood(#${this.pick})`;
  }
}

export class Drop extends Base {
  constructor(readonly pick: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.drop(m, m.pick(this.pick)!);
  }
  toString() {
    return `drop(#${this.pick})`;
  }
}

/**
 * A resume on a new socket. Of a live session it is the half-open case (the old socket is open, the client went
 * silent): a takeover. Of an ended session it must be refused. `during`: master packets sent while challenged.
 */
export class Resume extends Base {
  constructor(readonly pick: number, readonly key: ResumeKey, readonly during: number, readonly extra: number, readonly dropOld: boolean, readonly edge?: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.resume(m, m.pick(this.pick)!, this.key, this.during, this.extra, this.dropOld, this.edge);
  }
  toString() {
    const drop = this.dropOld ? ', old socket dropped while challenged' : '';
    const on = this.edge === undefined ? '' : ` on edge ${this.edge}`;
    return `resume(#${this.pick}${on}, ${this.key} key, ${this.during} master packets while challenged, ${this.extra} client packets with the response${drop})`;
  }
}

/** Cluster: master data sent to the edge that held the session before its last move (sent before the master saw the Reconnection). */
export class MasterSendLate extends Base {
  constructor(readonly pick: number, readonly n: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    r.masterSend(m, m.pick(this.pick)!, this.n, 2, true);
  }
  toString() {
    return `masterSendLate(#${this.pick}, ${this.n})`;
  }
}

/** Cluster: an edge dies (kill -9) or stops (SIGTERM), optionally replaced by a new edge in its slot. */
export class EdgeDown extends Base {
  constructor(readonly edge: number, readonly kind: 'kill' | 'leave', readonly replace: boolean) {
    super();
  }
  override check(m: Readonly<LifecycleModel>): boolean {
    return m.masterUp;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.edgeDown(m, this.edge, this.kind, this.replace);
  }
  toString() {
    return `${this.kind === 'kill' ? 'edgeKill' : 'edgeLeave'}(edge ${this.edge}${this.replace ? ', replaced' : ''})`;
  }
}

/** Cluster: a new edge starts in an empty slot. */
export class EdgeStart extends Base {
  constructor(readonly edge: number) {
    super();
  }
  override check(m: Readonly<LifecycleModel>): boolean {
    return m.masterUp;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.edgeStart(m, this.edge);
  }
  toString() {
    return `edgeStart(slot ${this.edge})`;
  }
}

/** The client announces a frame over the edge's frame cap: a protocol violation that ends the session. */
export class Oversize extends Base {
  constructor(readonly pick: number, readonly maxFrameSize: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.oversize(m, m.pick(this.pick)!, this.maxFrameSize);
  }
  toString() {
    return `oversize(#${this.pick})`;
  }
}

export class ResumeUnknown extends Base {
  constructor(readonly offset: number) {
    super();
  }
  override check(): boolean {
    return true;
  }
  act(_m: LifecycleModel, r: LifecycleSystem) {
    return r.resumeUnknown(this.offset);
  }
  toString() {
    return `resumeUnknown(${this.offset})`;
  }
}

export class Kick extends Base {
  constructor(readonly pick: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.kick(m, m.pick(this.pick)!);
  }
  toString() {
    return `kick(#${this.pick})`;
  }
}

export class TimePasses extends Base {
  constructor(readonly ms: number) {
    super();
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.timePasses(m, this.ms);
  }
  toString() {
    return `timePasses(${this.ms} ms)`;
  }
}

export class MasterDown extends Base {
  override check(m: Readonly<LifecycleModel>): boolean {
    return m.masterUp;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.masterDown(m);
  }
  toString() {
    return 'masterDown';
  }
}

export class MasterUp extends Base {
  override check(m: Readonly<LifecycleModel>): boolean {
    return !m.masterUp;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.masterUp(m);
  }
  toString() {
    return 'masterUp';
  }
}

/** The edge process restarts (SIGTERM) or is killed (kill -9), then starts again on the same state. */
export class Restart extends Base {
  constructor(readonly kind: 'restart' | 'kill') {
    super();
  }
  override check(m: Readonly<LifecycleModel>): boolean {
    return m.masterUp;
  }
  act(m: LifecycleModel, r: LifecycleSystem) {
    return r.restart(m, this.kind);
  }
  toString() {
    return this.kind === 'restart' ? 'edgeRestart' : 'edgeKill';
  }
}

export interface CommandOptions {
  maxSessions: number;
  /** limits.max_frame_size of the edge. */
  maxFrameSize: number;
  /** Steps a simulated clock may take (a real clock always waits out every stale session). */
  timeSteps: number[];
  /** Edge process steps the target supports (none by default). */
  restarts?: Array<'restart' | 'kill'>;
  /** A cluster of this many edges: connects and resumes pick an edge, edges die, leave and start. */
  edges?: number;
}

/** Every command arbitrary, weighted toward the lifecycle moments. */
export function lifecycleCommands(o: CommandOptions): Array<fc.Arbitrary<Cmd>> {
  const pick = fc.nat({ max: 7 });
  const k = o.edges ?? 1;
  const edge = k > 1 ? fc.nat({ max: k - 1 }) : fc.constant(undefined);
  const resume = fc
    .tuple(
      pick,
      fc.constantFrom<ResumeKey>('right', 'right', 'right', 'wrong', 'reflect'),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 2 }),
      fc.boolean(),
      edge,
    )
    .map(([p, key, d, e, drop, at]) => new Resume(p, key, d, e, drop, at));
  const connect = edge.map((at) => new Connect(o.maxSessions, at));
  const cluster =
    k > 1
      ? [
          // Resumes (mostly on another edge) and connects weigh more: moves between edges are what is fuzzed here.
          resume,
          resume,
          resume,
          connect,
          fc.tuple(pick, fc.integer({ min: 1, max: 3 })).map(([p, n]) => new MasterSendLate(p, n)),
          fc.tuple(pick, fc.integer({ min: 1, max: 3 })).map(([p, n]) => new MasterSendLate(p, n)),
          fc.tuple(edge, fc.constantFrom<'kill' | 'leave'>('kill', 'leave'), fc.boolean()).map(([at, kind, rep]) => new EdgeDown(at!, kind, rep)),
          edge.map((at) => new EdgeStart(at!)),
        ]
      : [];
  return [
    connect,
    connect,
    connect,
    fc.tuple(pick, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 64 })).map(([p, n, pad]) => new ClientSend(p, n, pad)),
    fc.tuple(pick, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 64 })).map(([p, n, pad]) => new MasterSend(p, n, pad)),
    fc.tuple(pick, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 64 })).map(([p, n, pad]) => new MasterSend(p, n, pad)),
    pick.map((p) => new Flood(p)),
    pick.map((p) => new Drop(p)),
    pick.map((p) => new Drop(p)),
    pick.map((p) => new Drop(p)),
    resume,
    resume,
    pick.map((p) => new Oversize(p, o.maxFrameSize)),
    fc.nat({ max: 1000 }).map((n) => new ResumeUnknown(n)),
    pick.map((p) => new Kick(p)),
    fc.constantFrom(...o.timeSteps).map((ms) => new TimePasses(ms)),
    fc.constant(new MasterDown()),
    fc.constant(new MasterUp()),
    ...(o.restarts ?? []).map((kind) => fc.constant(new Restart(kind))),
    ...cluster,
  ];
}
