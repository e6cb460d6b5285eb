// The primary process as the workers' cluster store (`voltlane --workers N` without Redis): answers each worker's
// requests from one MemoryClusterStore, relays messages between members, takes a worker whose link closed (it
// died) out of the membership at once so the others adopt its sessions at their next heartbeat, and, with a
// session store, reserves id blocks durably and saves every session at a graceful stop.
import type { Logger } from '../log.js';
import type { SessionStore } from '../store/store.js';
import { pack, unpack } from './ipc-codec.js';
import { IPC_OPS, type IpcLink, type IpcOp, type IpcRequest } from './ipc-backend.js';
import { MemoryClusterStore } from './memory-cluster.js';

export interface PrimaryStoreOptions {
  log: Logger;
  /** The cluster's public key (hex): the key file the primary gave its workers ('' or absent: the first member's). */
  publicKey?: string;
  /** The state file and journal (src/store) the sessions also go to; null: memory only. */
  persist: SessionStore | null;
}

const OPS = new Set<string>(IPC_OPS);

export class PrimaryStore {
  readonly store: MemoryClusterStore;
  readonly #o: PrimaryStoreOptions;
  /** member -> the link of the worker it lives in. */
  readonly #routes = new Map<string, IpcLink>();
  readonly #sweep: NodeJS.Timeout;
  #badRequests = 0;

  constructor(o: PrimaryStoreOptions) {
    this.#o = o;
    this.store = new MemoryClusterStore({
      ...(o.publicKey ? { publicKey: o.publicKey } : {}),
      persist: o.persist,
      publish: (member, msg) => this.#routes.get(member)?.send({ vl: 'm', to: member, d: msg.toString('base64') }),
    });
    this.#sweep = setInterval(() => this.store.sweep(), 10_000);
    this.#sweep.unref();
  }

  /** Reads the session store (sessions kept by the last run, the id floor) before any worker starts. */
  async load(): Promise<void> {
    const p = this.#o.persist;
    if (!p) return;
    const loaded = await p.load();
    this.store.restore(loaded.sessions, loaded.nextId, loaded.stoppedAt);
    p.attach(() => this.store.stored(Date.now()));
    this.#o.log.info({ sessions: loaded.sessions.length, nextId: loaded.nextId, store: p.kind }, 'workers.store_loaded');
  }

  /** Serves one worker. */
  serve(link: IpcLink): void {
    const members = new Set<string>();
    link.onMessage((m) => {
      if (typeof m !== 'object' || m === null || (m as IpcRequest).vl !== 'q') return;
      const req = m as IpcRequest;
      if (!OPS.has(req.op) || !Array.isArray(req.a) || typeof req.i !== 'number') {
        if (this.#badRequests++ === 0) this.#o.log.error({ op: String(req.op) }, 'workers.bad_request: ignored');
        return;
      }
      if (req.op === 'hello') {
        const member = String(req.a[0]);
        members.add(member);
        this.#routes.set(member, link);
        link.send({ vl: 'a', i: req.i, v: null });
        return;
      }
      this.#answer(link, { ...req, a: unpack(req.a) as unknown[] });
    });
    link.onClose(() => {
      for (const m of members) {
        if (this.#routes.get(m) === link) this.#routes.delete(m);
        // Gone with its process: the others adopt its sessions at their next heartbeat.
        this.store.leave(m);
      }
    });
  }

  #answer(link: IpcLink, req: IpcRequest): void {
    const reply = (v: unknown) => {
      if (link.connected) link.send({ vl: 'a', i: req.i, v: pack(v ?? null) });
    };
    const fail = (err: unknown) => {
      if (link.connected) link.send({ vl: 'a', i: req.i, e: (err as Error).message ?? String(err) });
    };
    const persist = this.#o.persist;
    if (req.op === 'allocIds' && persist) {
      // Durable before any id of the block is handed out (the journal's id record), as on a single edge.
      const [count, floor] = req.a as [number, number];
      this.store.raiseCounter(Number(floor));
      persist.allocateIds(Number(count)).then((b) => {
        this.store.raiseCounter(b.end - 1);
        reply(b.end - 1);
      }, fail);
      return;
    }
    try {
      const fn = (this.store as unknown as Record<IpcOp, (...a: unknown[]) => unknown>)[req.op];
      reply(fn.apply(this.store, req.a));
    } catch (err) {
      fail(err);
    }
  }

  /** The daemon stops: no more adoptions; with a session store, every session is written, then it closes. */
  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    this.store.stopping = true;
    const p = this.#o.persist;
    if (!p) return;
    const now = Date.now();
    const list = [...this.store.stored(now)];
    await p.saveAll(list, now);
    await p.close();
    this.#o.log.info({ sessions: list.length }, 'workers.store_saved');
  }
}
