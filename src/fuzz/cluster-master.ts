// The fuzzer's master for several edges: one link per edge (a MasterPeer each, on its own port, so the fuzzer
// knows which edge a link belongs to), every packet recorded with the link it came on, and Data/Kick for an id
// sent on the link that last sent a Data or Reconnection for it: the routing rule of voltlane/master
// (src/sdk/master.ts). A route lives as long as its link: when the link closes it is gone, and the id is
// unreachable until it speaks again (or while exactly one edge is connected, which then takes everything). An id
// that has not spoken yet goes to the edge it was created on (the master learned it out of band, as from a login).
import type { FirehosePacket, FlagValue } from '../io/firehose.js';
import { Flag } from '../io/firehose.js';
import { MasterPeer } from './master-peer.js';

/** A packet as the master got it, with the edge slot whose link carried it. */
export interface LinkPacket extends FirehosePacket {
  slot: number;
}

interface Route {
  slot: number;
  /** The link: the slot's connection number when the route was set. */
  conn: number;
}

export class ClusterMaster {
  readonly peers: MasterPeer[];
  /** Every packet, in the order drained (links in slot order at each drain). */
  readonly packets: LinkPacket[] = [];
  /** Slots that run an edge (the others' links are not awaited). */
  readonly active: boolean[];
  readonly #taken: number[];
  readonly #routes = new Map<bigint, Route>();
  /** The route before the last change of each id: where a master that missed the move would still send. */
  readonly #previous = new Map<bigint, Route>();

  constructor(slots: number, timeoutMs: number) {
    this.peers = Array.from({ length: slots }, () => new MasterPeer({ host: '127.0.0.1', port: 0, timeoutMs }));
    this.#taken = this.peers.map(() => 0);
    this.active = this.peers.map(() => false);
  }

  /** Listens on one port per slot; resolves with them. */
  async listen(): Promise<number[]> {
    const out: number[] = [];
    for (const p of this.peers) out.push(await p.listen());
    return out;
  }

  get malformed(): string[] {
    return this.peers.flatMap((p) => p.malformed);
  }

  /** Connections accepted, over every slot. */
  get connections(): number {
    return this.peers.reduce((n, p) => n + p.connections, 0);
  }

  /** True when every slot in `slots` (default: all) has its link up. */
  connectedAll(slots: number[] = this.peers.map((_, i) => i)): boolean {
    return slots.every((i) => this.peers[i]!.connected);
  }

  get connected(): boolean {
    return this.peers.some((p) => p.connected);
  }

  /** All packets so far, routes updated from the new ones. */
  drain(): LinkPacket[] {
    this.peers.forEach((p, slot) => {
      const all = p.drain();
      for (let i = this.#taken[slot]!; i < all.length; i++) {
        const q = all[i]!;
        this.packets.push({ ...q, slot });
        if (q.flag === Flag.Data || q.flag === Flag.Reconnection) this.#setRoute(q.id, slot);
        else if (q.flag === Flag.Failure && this.#routes.get(q.id)?.slot === slot) this.#routes.delete(q.id);
      }
      this.#taken[slot] = all.length;
    });
    return this.packets;
  }

  #setRoute(id: bigint, slot: number): void {
    const old = this.#routes.get(id);
    const conn = this.peers[slot]!.connections;
    if (old && old.slot === slot && old.conn === conn) return;
    if (old && old.slot !== slot) this.#previous.set(id, old);
    this.#routes.set(id, { slot, conn });
  }

  /** The master learned out of band that `id` was created on `slot` (used until the id speaks). */
  learn(id: bigint, slot: number): void {
    this.#setRoute(id, slot);
  }

  #live(r: Route | undefined): number | null {
    if (!r) return null;
    const p = this.peers[r.slot]!;
    return p.connected && p.connections === r.conn ? r.slot : null;
  }

  /** The slot voltlane/master would send `id`'s data to now, or null (no route: the send is not possible). */
  route(id: bigint): number | null {
    this.drain();
    const r = this.#live(this.#routes.get(id));
    if (r !== null) return r;
    const up = this.peers.flatMap((p, i) => (p.connected ? [i] : []));
    return up.length === 1 ? up[0]! : null;
  }

  /** The slot of the id's route before its last move, if that link is still up and it differs from the route now. */
  lateRoute(id: bigint): number | null {
    this.drain();
    const prev = this.#live(this.#previous.get(id));
    const now = this.route(id);
    return prev !== null && prev !== now ? prev : null;
  }

  sendVia(slot: number, id: bigint, flag: FlagValue, data?: Uint8Array): void {
    this.peers[slot]!.send(id, flag, data);
  }

  /** Syncs every connected link (each answers its probe in order with what was sent on it). */
  async sync(): Promise<void> {
    for (const p of this.peers) if (p.connected) await p.sync();
    this.drain();
  }

  /** Sends on the id's route; throws when there is none. */
  send(id: bigint, flag: FlagValue, data?: Uint8Array): void {
    const slot = this.route(id);
    if (slot === null) throw new Error(`master: no route for id ${id}`);
    this.sendVia(slot, id, flag, data);
  }

  /** Every link down (the master went away). */
  async down(): Promise<void> {
    this.drain();
    for (const p of this.peers) await p.down();
  }

  /** The master is back: listening again for every slot that runs an edge. */
  async up(): Promise<void> {
    for (const [i, p] of this.peers.entries()) if (this.active[i]) await p.up();
  }

  /** Waits until every slot that runs an edge has its link up. */
  async awaitConnection(poke?: () => Promise<void> | void, timeoutMs = this.peers[0]!.timeoutMs): Promise<void> {
    for (const [i, p] of this.peers.entries()) if (this.active[i]) await p.awaitConnection(poke, timeoutMs);
  }

  async close(): Promise<void> {
    for (const p of this.peers) await p.close();
  }
}
