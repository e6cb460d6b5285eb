// A cluster of in-process edges for the lifecycle fuzzer: K real Edges on loopback sharing one cluster store
// (in-process-cluster.ts) and one simulated clock, each with its own firehose link to the fuzzer's master
// (cluster-master.ts). The fuzzer may kill an edge (abrupt: cut from the store, its master link and its client
// sockets at once, nothing saved), stop one gracefully (SIGTERM-like: it leaves the cluster) and start an edge in
// an empty slot; the others adopt a dead edge's sessions at their next heartbeat.
import type { InspectionEvent } from 'xstate';
import { Edge } from '../actors/edge.js';
import type { Config } from '../config/index.js';
import { ClusterMember } from '../cluster/member.js';
import { generateKeyPair } from '../io/crypto.js';
import { SimClock } from './clock.js';
import { ClusterMaster } from './cluster-master.js';
import { InProcessClusterHub, type InProcessClusterBackend } from './in-process-cluster.js';
import { captureLogger, fuzzEdgeConfig, until } from './in-process.js';
import type { EdgeAddress } from './client-peer.js';
import type { LifecycleTarget } from './system.js';

/** Large enough that no edge's stale table evicts in a run: eviction is a single edge's rule, fuzzed there. */
export const CLUSTER_FUZZ_MAX_STALE = 1000;

/** What the fuzzer may do to the edges of a cluster target. */
export interface ClusterControl {
  readonly master: ClusterMaster;
  /** Where each slot's edge listens; null while the slot is empty. */
  readonly edges: Array<EdgeAddress | null>;
  /** Abrupt death (kill -9): the store sees it go at once, its links and sockets are cut; nothing is saved. */
  kill(slot: number): Promise<void>;
  /** Graceful stop (SIGTERM): the edge closes its sockets and leaves the cluster. */
  leave(slot: number): Promise<void>;
  /** Starts a new edge (a new member) in an empty slot; resolves once it dialed the master. */
  start(slot: number): Promise<void>;
  /** The slot whose edge owns `id` in the cluster store, -1 for a member no longer running, null when no record. */
  holder(id: bigint): number | null;
  /** Resolves once no message between edges is in flight. */
  quiet(): Promise<void>;
}

export interface MultiEdgeOptions {
  edges?: number;
  missedBufferSize?: number;
  waitMs?: number;
  inspect?: (ev: InspectionEvent) => void;
}

interface Slot {
  edge: Edge;
  backend: InProcessClusterBackend;
  member: ClusterMember;
}


export async function startInProcessCluster(o: MultiEdgeOptions = {}): Promise<{ target: LifecycleTarget; dispose(): Promise<void>; slots: Array<Slot | null> }> {
  const k = o.edges ?? 3;
  const missedBufferSize = o.missedBufferSize ?? 3;
  const waitMs = o.waitMs ?? 1000;
  const clock = new SimClock();
  const hub = new InProcessClusterHub(() => clock.now());
  const master = new ClusterMaster(k, waitMs * 4);
  const ports = await master.listen();
  const keyPair = generateKeyPair();
  const logs: Array<Record<string, unknown>> = [];
  const log = captureLogger(logs);
  const slots: Array<Slot | null> = Array.from({ length: k }, () => null);
  const edges: Array<EdgeAddress | null> = Array.from({ length: k }, () => null);
  const configOf = (slot: number): Config => {
    const c = fuzzEdgeConfig(ports[slot]!, true, missedBufferSize);
    return { ...c, clients: { ...c.clients, maxStaleClients: CLUSTER_FUZZ_MAX_STALE }, limits: { ...c.limits, maxStaleSharePerAddress: CLUSTER_FUZZ_MAX_STALE } };
  };
  const config0 = configOf(0);

  const start = async (slot: number): Promise<void> => {
    if (slots[slot]) throw new Error(`slot ${slot} already runs an edge`);
    const config = configOf(slot);
    const backend = hub.backend();
    const member = new ClusterMember({
      backend,
      memberTimeoutMs: 150,
      publicKey: keyPair.publicKey,
      staleTtlMs: config.clients.staleTimeoutSecs * 1000 + 60_000,
      log,
      member: `edge${slot}.${generation++}`,
    });
    const edge = new Edge({ config, keyPair, log, clock, cluster: member, ...(o.inspect ? { inspect: o.inspect } : {}) });
    await member.join();
    const peer = master.peers[slot]!;
    master.active[slot] = true;
    await peer.up();
    const before = peer.connections;
    const { port } = await edge.start();
    slots[slot] = { edge, backend, member };
    edges[slot] = { host: '127.0.0.1', port };
    if (!(await until(() => peer.connections > before && peer.connected, waitMs * 4))) throw new Error(`the edge in slot ${slot} did not dial the master`);
  };

  let generation = 0;
  const slotOf = (member: string): number => slots.findIndex((s) => s?.member.member === member);

  const control: ClusterControl = {
    master,
    edges,
    start,
    async kill(slot) {
      const s = slots[slot];
      if (!s) throw new Error(`no edge in slot ${slot}`);
      // All at once, in one turn: nothing the dying edge does from here reaches the store, the master or a client.
      s.backend.kill();
      master.active[slot] = false;
      const down = master.peers[slot]!.down();
      for (const x of s.edge.sessions.values()) x.socket?.destroy();
      for (const p of [...s.edge.admission.pending]) p.socket.destroy();
      slots[slot] = null;
      edges[slot] = null;
      await down;
      await until(() => !s.edge.stats().masterConnected, waitMs);
      // Frees what the dead edge held in this process (timers, its listener); it reaches nobody any more.
      await s.edge.stop();
    },
    async leave(slot) {
      const s = slots[slot];
      if (!s) throw new Error(`no edge in slot ${slot}`);
      slots[slot] = null;
      edges[slot] = null;
      master.active[slot] = false;
      await s.edge.stop();
      await master.peers[slot]!.down();
    },
    holder(id) {
      const owner = hub.owner(Number(id));
      return owner === null ? null : slotOf(owner);
    },
    async quiet() {
      for (let i = 0; i < 3; i++) {
        await until(() => hub.quiet, waitMs);
        await new Promise((r) => setImmediate(r));
      }
    },
  };

  for (let i = 0; i < k; i++) await start(i);
  const C = config0.clients;
  const target: LifecycleTarget = {
    edge: edges[0]!,
    master,
    clock,
    model: {
      staleTimeoutMs: C.staleTimeoutSecs * 1000,
      reapIntervalMs: 0,
      missedBufferSize,
      maxStaleClients: CLUSTER_FUZZ_MAX_STALE,
      marginMs: 0,
    },
    reconnectMaxMs: config0.master.reconnectMaxMs,
    waitMs,
    settleMs: 30,
    issued: new Set(),
    cluster: control,
    probe: {
      async awaitDetached(id) {
        const n = Number(id);
        const ok = await until(() => slots.every((s) => !s || !s.edge.sessions.get(n)?.socket), waitMs);
        if (!ok) throw new Error(`no edge saw session ${id}'s socket close within ${waitMs} ms`);
      },
      async awaitMasterLost() {
        const ok = await until(() => slots.every((s) => !s || !s.edge.stats().masterConnected), waitMs);
        if (!ok) throw new Error(`an edge did not see the master link drop within ${waitMs} ms`);
      },
      async leaks() {
        const out: string[] = [];
        for (const [i, s] of slots.entries()) {
          if (!s) continue;
          const clean = () => {
            const st = s.edge.stats();
            return st.sessions === 0 && st.stale === 0 && st.handshaking === 0 && st.openSockets === 0 && st.heldForMaster === 0;
          };
          if (!(await until(clean, waitMs * 2))) out.push(`edge in slot ${i} still holds state after every session ended: ${JSON.stringify(s.edge.stats())}`);
        }
        const left = hub.store.size.sessions;
        if (left > 0) out.push(`the cluster store still holds ${left} session record(s) after every session ended`);
        return out;
      },
    },
  };
  return {
    target,
    slots,
    async dispose() {
      for (const s of slots) await s?.edge.stop();
      await master.close();
    },
  };
}
