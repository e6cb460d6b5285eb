// One client session at run time: its XState actor (lifecycle), its socket, writer and decoder (data path),
// and its missed-packet buffer while it is away.
import type { Actor } from 'xstate';
import type { FrameDecoder } from '../io/framing.js';
import type { FrameWriter } from '../io/writer.js';
import type { SessionMachine } from '../machines/session.js';
import type { PendingConnection } from './handshake.js';
import { NO_REPLAY, replayCount } from './replay-buffer.js';
import type { Holder, StaleLinks } from './stale-table.js';
import type { Budgeted, QueueNode } from './client-budget.js';
import type { ClientConnection } from './transports/connection.js';

/** Symbol under which a client socket carries its Session (module-level listeners, no closure per socket). */
export const kSession = Symbol('voltlane.session');

export type SessionSocket = ClientConnection & { [kSession]?: Session };

/** A session's state in a cluster (null outside cluster mode). */
export interface SessionClusterState {
  /** Bumped by every claim: a claim must name the epoch it read before the challenge. */
  epoch: number;
  /** The member that held the session when this edge looked it up (resumes of remote sessions). */
  owner: string;
  /** Whether it was live there (its socket half-open): that edge must release it first. */
  ownerLive: boolean;
  /** Claimed from another edge and no master data received here directly since: forwarded data may still come. */
  fromOtherEdge: boolean;
  /** Claimed from another edge at least once (forwarded data after direct data then breaks the order). */
  movedIn?: boolean;
  /** Clock ms when it went stale here, or null while live. */
  staleSince: number | null;
}

const INITIAL_STATE = Object.freeze({ live: 'connected' });
const AWAY_STALE = Object.freeze({ away: 'stale' });
/** The X coordinate's place for a client key of another shape (kept in #otherKey). */
const NO_X = '\0'.repeat(32);

/** The same bytes as a Buffer (for its latin1 reads and writes). */
function bytesOf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Bytes as a flat one-byte string, one character per byte. */
function latin1(b: Uint8Array): string {
  return bytesOf(b).toString('latin1');
}

export class Session implements StaleLinks<Session>, Budgeted<Session> {
  readonly id: number;
  /**
   * The X coordinate of the client's compressed key and, once derived, the session key after it: 32 or 64
   * bytes, one per character of a flat one-byte string (48 or 80 B on the heap; a 64-byte typed array with its
   * ArrayBuffer costs about 250 B, which was a tenth of an idle session). The compressed key's prefix byte
   * (2 or 3) is #prefix. Read back into fresh arrays only when used (a resume, the state file).
   */
  #keys: string;
  #prefix = 0;
  /** A client key of another shape, kept as given (not expected: keys are stored compressed). */
  #otherKey: Uint8Array | null = null;
  /**
   * The session's XState actor, created on its first lifecycle event (Edge.#actorOf): until then the
   * session is in the machine's initial state, live.connected, and an idle new session costs no actor.
   */
  actor: Actor<SessionMachine> | null = null;
  /**
   * Clock ms when the session went stale while it had no actor (session-effects.ts socketClosed): it is then in
   * away.stale without one. Null otherwise (an actor's state is its own).
   */
  awaySince: number | null = null;
  /** Resumes passed while it had no actor (resume-flow.ts): its actor's count starts from them when it is made. */
  resumes = 0;
  socket: SessionSocket | null = null;
  writer: FrameWriter | null = null;
  decoder: FrameDecoder | null = null;
  /** Wall-clock ms of creation (kept by the session store). */
  createdAt = 0;
  /** Remote address of the current (or last) socket. */
  address: string;
  /** Master packets kept while away, oldest first: a replay buffer's handle (replay-buffer.ts), NO_REPLAY for none. */
  replay = NO_REPLAY;
  /** Packets written to the socket since it was last seen empty: the per-client packet bound. */
  outPackets = 0;
  /** Framed size of the first of those packets: the one in flight, which the byte cap does not count. */
  outHead = 0;
  /**
   * Reconnect attempts being challenged, oldest first. Several may race (anyone who knows the id can ask
   * for a challenge): the first valid response wins, and none of them blocks a later one.
   */
  challenges: PendingConnection[] = [];
  /** The attempt whose response and Ping passed, while the machine completes the resume. */
  winner: PendingConnection | null = null;
  /** The socket was paused because the master link is congested. */
  paused = false;
  /** Cluster mode only: epoch, previous owner, forwarding state. */
  cluster: SessionClusterState | null = null;
  /** Position in the stale reaper's deadline heap (-1: not stale). */
  deadlineSlot = -1;
  /** Links of the stale table (src/actors/stale-table.ts), all null while not stale. */
  staleHolder: Holder<Session> | null = null;
  stalePrev: Session | null = null;
  staleNext: Session | null = null;
  /** The client buffer budget's links (src/actors/client-budget.ts): replay buffer held, output queue behind. */
  budgetReplay: QueueNode<Session> | null = null;
  budgetSlow: QueueNode<Session> | null = null;
  budgetCharge = 0;

  constructor(id: number, clientKey: Uint8Array, address: string) {
    this.id = id;
    this.address = address;
    if (clientKey.length === 33 && (clientKey[0] === 2 || clientKey[0] === 3)) {
      this.#prefix = clientKey[0];
      this.#keys = latin1(clientKey.subarray(1));
    } else {
      this.#otherKey = Uint8Array.from(clientKey);
      this.#keys = NO_X;
    }
  }

  /** The client's public key, SEC1 compressed (a fresh copy). */
  get clientKey(): Uint8Array {
    if (this.#otherKey) return this.#otherKey.slice();
    const k = new Uint8Array(33);
    k[0] = this.#prefix;
    bytesOf(k).write(this.#keys, 1, 32, 'latin1');
    return k;
  }

  /** The 32-byte session key, derived with `derive` on first use (then kept); a fresh copy. */
  sessionKey(derive: (clientKey: Uint8Array) => Uint8Array | Error): Uint8Array | Error {
    if (this.#keys.length === 64) {
      const k = new Uint8Array(32);
      bytesOf(k).write(this.#keys.slice(32), 0, 32, 'latin1');
      return k;
    }
    const k = derive(this.clientKey);
    if (k instanceof Error) return k;
    if (k.length !== 32) return new Error(`session key of ${k.length} bytes, expected 32`);
    // One flat string of 64 (a concatenation would be a pair of pointers to both halves).
    const both = Buffer.allocUnsafe(64);
    both.write(this.#keys, 0, 32, 'latin1');
    both.set(k, 32);
    this.#keys = both.toString('latin1');
    return Uint8Array.from(k);
  }

  get hasSessionKey(): boolean {
    return this.#keys.length === 64;
  }

  /** Packets in its replay buffer. */
  get missedCount(): number {
    return replayCount(this.replay);
  }

  /** The machine's state value; without an actor, the initial state or away.stale (`awaySince`). */
  get stateValue(): unknown {
    if (this.actor) return this.actor.getSnapshot().value;
    return this.awaySince === null ? INITIAL_STATE : AWAY_STALE;
  }
}
