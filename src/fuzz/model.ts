// The lifecycle model: what an edge that keeps PROTOCOL.md must deliver, per session, to the client and to the master.
// Deliberately simple: a phase per session, a replay buffer, and the exact packet sequences each side should see.
import { Flag, type FlagValue } from '../io/firehose.js';

export interface ModelConfig {
  /** clients.stale_timeout_secs in ms. */
  staleTimeoutMs: number;
  /** clients.stale_reap_interval_secs in ms. */
  reapIntervalMs: number;
  /** clients.missed_packets_buffer_size. */
  missedBufferSize: number;
  /** clients.max_stale_clients: past it the session stale longest is evicted. */
  maxStaleClients: number;
  /** Slack for real clocks: a stale session is surely alive before timeout - margin, surely ended after timeout + reap + margin. */
  marginMs: number;
}

export type Phase = 'live' | 'stale' | 'ended';

export interface ExpectedPacket {
  flag: FlagValue;
  /** Data: the exact bytes; Failure: the reason (not compared byte for byte). */
  data: Uint8Array;
  /** A Failure answering master data for the id after the session ended (not the session's own Failure). */
  answer?: boolean;
  /** The slot of the edge whose link carries it (a cluster keeps order per link only). */
  slot: number;
}

/** The reason of the Failure that answers master data for an id with no session (PROTOCOL.md sec. 5). */
export const UNKNOWN_CLIENT = 'unknown client';

export interface ModelSession {
  /** Creation order in this run: commands pick sessions by it. */
  readonly index: number;
  readonly id: bigint;
  phase: Phase;
  endedBy: 'kick' | 'failure' | null;
  /** Model clock ms when the client dropped. */
  staleSince: number;
  /** Order in which sessions went stale (eviction takes the smallest). */
  staleOrder: number;
  /** Master data held for replay while stale. */
  buffered: Uint8Array[];
  /** How many of `buffered` (the oldest) the edge wrote to its state file: they survive a kill. */
  keptBuffered: number;
  /** Extra uncertainty on `staleSince` (ms): after a kill the edge restores sessions at a time between two clock reads. */
  staleSlackMs: number;
  /** Every data frame the client must receive, in order. */
  readonly toClient: Uint8Array[];
  /** Every packet the master must receive for this id, in order. */
  readonly toMaster: ExpectedPacket[];
  /** Cluster targets: the slot of the edge holding the session (-1 while its dead edge's sessions await adoption). */
  edge: number;
  /** Cluster: the holder claimed it from another edge (not created or adopted there). */
  movedIn: boolean;
  /** Cluster: the holder got master data for it directly since it claimed it from another edge. */
  direct: boolean;
  /** Sequence numbers for unique payloads. */
  clientSeq: number;
  masterSeq: number;
}

const utf8 = new TextEncoder();

export class LifecycleModel {
  readonly sessions: ModelSession[] = [];
  masterUp = true;
  #staleCount = 0;

  constructor(readonly config: ModelConfig) {}

  /** The session a command's `pick` names (commands pick among the sessions created so far). */
  pick(n: number): ModelSession | undefined {
    return this.sessions.length === 0 ? undefined : this.sessions[n % this.sessions.length];
  }

  connected(id: bigint, edge = 0): ModelSession {
    const s: ModelSession = {
      index: this.sessions.length,
      id,
      edge,
      movedIn: false,
      direct: false,
      phase: 'live',
      endedBy: null,
      staleSince: 0,
      staleOrder: 0,
      buffered: [],
      keptBuffered: 0,
      staleSlackMs: 0,
      toClient: [],
      toMaster: [],
      clientSeq: 0,
      masterSeq: 0,
    };
    this.sessions.push(s);
    return s;
  }

  /** Unique client payload number `seq` of session `s`, `pad` extra bytes. */
  clientPayload(s: ModelSession, pad: number): Uint8Array {
    return payload(`c:${s.id}:${s.clientSeq++}:`, pad);
  }

  masterPayload(s: ModelSession, pad: number): Uint8Array {
    return payload(`m:${s.id}:${s.masterSeq++}:`, pad);
  }

  clientSent(s: ModelSession, data: Uint8Array[]): void {
    if (s.phase !== 'live') throw new Error(`model: client ${s.id} sent while ${s.phase}`);
    for (const d of data) s.toMaster.push({ flag: Flag.Data, data: d, slot: s.edge });
  }

  /**
   * Master data for `s`: delivered when live, buffered when stale (one too many ends the session), and when the
   * session has ended (Failure or Kick) answered with a Failure, every time, as for an id never issued.
   */
  masterSent(s: ModelSession, data: Uint8Array, via = s.edge): void {
    if (s.phase === 'live') s.toClient.push(data);
    else if (s.phase === 'stale') {
      if (s.buffered.length >= this.config.missedBufferSize) this.#fail(s, 'missed packet buffer overflow');
      else s.buffered.push(data);
    } else s.toMaster.push({ flag: Flag.Failure, data: utf8.encode(UNKNOWN_CLIENT), answer: true, slot: via });
  }

  /**
   * Cluster: master data for `s` sent on the link of the edge in `slot`. The holder takes it as above; another
   * edge forwards it to the holder, which delivers it as its own unless the session moved in from another edge
   * and got master data directly since: then the forwarded packet cannot be in order and the session ends with
   * one Failure (DESIGN.md, Cluster). An ended session's id is answered with a Failure by whichever edge got it.
   */
  masterSentVia(s: ModelSession, data: Uint8Array, slot: number): void {
    if (s.phase !== 'ended') {
      if (slot === s.edge) s.direct = true;
      else if (s.movedIn && s.direct) return this.#fail(s, 'master data crossed a move between edges');
    }
    this.masterSent(s, data, slot);
  }

  /** Cluster: a resume passed on the edge in `slot` (the session moves there if another edge held it). */
  resumedOn(s: ModelSession, slot: number): void {
    if (slot !== s.edge) {
      s.edge = slot;
      s.movedIn = true;
      s.direct = false;
    }
    this.resumed(s);
  }

  /**
   * Cluster: the edge in `slot` died (kill) or left (graceful stop) at `at`. What it held is in the cluster store:
   * its live sessions are stale from `at`, its stale ones keep their time and every buffered packet (each was
   * appended to the store's list when buffered). Nothing else is lost when every packet sent had arrived.
   */
  edgeGone(slot: number, at: number): ModelSession[] {
    const out: ModelSession[] = [];
    for (const s of this.sessions) {
      if (s.edge !== slot || s.phase === 'ended') continue;
      if (s.phase === 'live') {
        s.phase = 'stale';
        s.staleSince = at;
        s.staleSlackMs = 0;
        s.staleOrder = ++this.#staleCount;
      }
      s.edge = -1;
      out.push(s);
    }
    return out;
  }

  /** Cluster: the edge in `slot` adopted `s` (a new session object there: it did not move in). */
  adopted(s: ModelSession, slot: number): void {
    s.edge = slot;
    s.movedIn = false;
    s.direct = false;
  }

  dropped(s: ModelSession, now: number): void {
    if (s.phase !== 'live') throw new Error(`model: client ${s.id} dropped while ${s.phase}`);
    s.phase = 'stale';
    s.staleSince = now;
    s.staleSlackMs = 0;
    s.staleOrder = ++this.#staleCount;
    const stale = this.sessions.filter((x) => x.phase === 'stale').sort((a, b) => a.staleOrder - b.staleOrder);
    for (let i = 0; i < stale.length - this.config.maxStaleClients; i++) this.#fail(stale[i]!, 'evicted');
  }

  /** The client sent a frame over the cap: the session ends with Failure. */
  oversized(s: ModelSession): void {
    if (s.phase !== 'live') throw new Error(`model: client ${s.id} sent while ${s.phase}`);
    this.#fail(s, 'frame too large');
  }

  /** What a resume of `s` with this key must end in. */
  resumeOutcome(s: ModelSession, key: 'right' | 'wrong' | 'reflect'): 'passed' | 'refused' | 'failed' {
    if (s.phase === 'ended') return 'refused';
    return key === 'right' ? 'passed' : 'failed';
  }

  /** The resume passed: Reconnection to the master, buffered packets to the client, then live. */
  resumed(s: ModelSession): void {
    if (s.phase === 'ended') throw new Error(`model: ended session ${s.id} resumed`);
    s.toMaster.push({ flag: Flag.Reconnection, data: new Uint8Array(0), slot: s.edge });
    s.toClient.push(...s.buffered);
    s.buffered = [];
    s.keptBuffered = 0;
    s.phase = 'live';
  }

  /**
   * The edge process stopped and a new one started on the same state. `restart` (SIGTERM): every live session
   * went stale at the shutdown, `at`, in creation order (eviction as for any drop), and every buffered packet
   * was written. `kill` (kill -9): live sessions are stale from the new process's start (between `at` and
   * `at + slackMs`); buffered packets not yet written to the state file are lost. Either way, the new process
   * restores the stale sessions oldest stale time first, and evicts past max_stale_clients from there.
   */
  restarted(kind: 'restart' | 'kill', at: number, slackMs = 0): void {
    for (const s of this.sessions) {
      if (kind === 'kill' && s.phase === 'stale') s.buffered = s.buffered.slice(0, s.keptBuffered);
      if (s.phase !== 'live') continue;
      if (kind === 'restart') this.dropped(s, at);
      else {
        s.phase = 'stale';
        s.staleSince = at;
        s.staleSlackMs = slackMs;
      }
    }
    const stale = this.sessions.filter((x) => x.phase === 'stale').sort((a, b) => a.staleSince - b.staleSince || a.index - b.index);
    for (const s of stale) {
      s.staleOrder = ++this.#staleCount;
      if (kind === 'restart') s.keptBuffered = s.buffered.length;
    }
    for (let i = 0; i < stale.length - this.config.maxStaleClients; i++) this.#fail(stale[i]!, 'evicted');
  }

  kicked(s: ModelSession): void {
    if (s.phase === 'ended') return;
    s.phase = 'ended';
    s.endedBy = 'kick';
    s.buffered = [];
    s.keptBuffered = 0;
  }

  #fail(s: ModelSession, reason: string): void {
    s.phase = 'ended';
    s.endedBy = 'failure';
    s.buffered = [];
    s.keptBuffered = 0;
    s.toMaster.push({ flag: Flag.Failure, data: utf8.encode(reason), slot: s.edge });
  }

  /** Ends every stale session surely past its timeout at `now`; returns the earliest time an unsure one is sure. */
  expire(now: number): number | null {
    const { staleTimeoutMs: t, reapIntervalMs: r, marginMs: m } = this.config;
    let unsureUntil: number | null = null;
    for (const s of this.sessions) {
      if (s.phase !== 'stale') continue;
      const sure = s.staleSince + s.staleSlackMs + t + r + m;
      if (now >= sure) this.#fail(s, 'stale timeout');
      else if (now >= s.staleSince + t - m) unsureUntil = Math.max(unsureUntil ?? 0, sure);
    }
    return unsureUntil;
  }

  /** The latest time any stale session is surely ended (for "time passes" on a real clock). */
  allStaleEndBy(): number | null {
    const { staleTimeoutMs: t, reapIntervalMs: r, marginMs: m } = this.config;
    let at: number | null = null;
    for (const s of this.sessions) if (s.phase === 'stale') at = Math.max(at ?? 0, s.staleSince + s.staleSlackMs + t + r + m);
    return at;
  }

  get live(): ModelSession[] {
    return this.sessions.filter((s) => s.phase !== 'ended');
  }
}

function payload(prefix: string, pad: number): Uint8Array {
  const head = utf8.encode(prefix);
  const out = new Uint8Array(head.length + pad);
  out.set(head);
  for (let i = 0; i < pad; i++) out[head.length + i] = (i * 31 + 7) & 0xff;
  return out;
}
