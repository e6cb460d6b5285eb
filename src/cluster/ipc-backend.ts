// The cluster store of `voltlane --workers N` without Redis, as a worker sees it: every operation is a request to
// the primary process over Node's cluster IPC channel (process.send), answered by the primary's MemoryClusterStore
// (memory-cluster.ts, served by primary-store.ts). Requests carry ids; answers resolve them. Byte arrays cross as
// base64 in the JSON serialization (ipc-codec.ts). A worker whose link to the primary is gone is treated as Redis
// unreachable: not ready, every request refused (Node's cluster module then ends the worker).
import { pack, unpack } from './ipc-codec.js';
import { ClusterError, type AdoptedSession, type ClaimResult, type ClusterBackend, type HeartbeatResult, type SessionRecord } from './backend.js';

/** One end of a message channel between a worker and the primary (the process, a cluster Worker, a MessagePort). */
export interface IpcLink {
  readonly connected: boolean;
  send(msg: IpcMessage): void;
  onMessage(cb: (msg: unknown) => void): void;
  onClose(cb: () => void): void;
  /** Stops listening (the worker side closes its end only if it owns it). */
  close(): void;
}

/** Worker -> primary: a request. */
export interface IpcRequest {
  vl: 'q';
  i: number;
  op: IpcOp;
  a: unknown[];
}
/** Primary -> worker: the answer to request `i` (`e` set on failure), or a message (base64) for member `to`. */
export type IpcMessage = IpcRequest | { vl: 'a'; i: number; v?: unknown; e?: string } | { vl: 'm'; to: string; d: string };

export const IPC_OPS = ['hello', 'allocIds', 'join', 'heartbeat', 'create', 'stale', 'deliver', 'kick', 'end', 'claim', 'adopt', 'lookup', 'isAlive', 'publish', 'rewrite', 'leave'] as const;
export type IpcOp = (typeof IPC_OPS)[number];

/** How long a request waits for the primary before it fails (the primary answers in one turn; this is a lost link). */
const REQUEST_TIMEOUT_MS = 10_000;

/** The worker's end: this process's IPC channel to its primary. */
export function processLink(): IpcLink {
  const listeners: Array<(m: unknown) => void> = [];
  const onMessage = (m: unknown) => {
    for (const l of listeners) l(m);
  };
  process.on('message', onMessage);
  return {
    get connected() {
      return process.connected === true;
    },
    send(msg) {
      process.send?.(msg);
    },
    onMessage(cb) {
      listeners.push(cb);
    },
    onClose(cb) {
      // Ahead of Node's own listener, which ends the worker at once when its primary is gone: logged first.
      process.prependOnceListener('disconnect', cb);
    },
    close() {
      process.off('message', onMessage);
    },
  };
}

export class IpcBackend implements ClusterBackend {
  readonly kind = 'primary';
  readonly where: string;
  readonly #link: IpcLink;
  readonly #pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void; timer: NodeJS.Timeout }>();
  #next = 0;
  #closed = false;
  #lost = false;
  #member = '';
  #onMessage: ((msg: Buffer) => void) | null = null;

  constructor(link: IpcLink, where = `primary process ${process.ppid}`) {
    this.#link = link;
    this.where = where;
  }

  get ready(): boolean {
    return !this.#closed && !this.#lost && this.#link.connected;
  }

  get status(): string {
    if (this.#closed) return 'closed';
    return this.#lost || !this.#link.connected ? 'primary link lost' : 'ready';
  }

  async connect(member: string, onMessage: (msg: Buffer) => void, _onReconnected: () => void, onError: (err: Error) => void): Promise<void> {
    this.#member = member;
    this.#onMessage = onMessage;
    this.#link.onMessage((m) => this.#receive(m));
    this.#link.onClose(() => {
      if (this.#closed) return;
      this.#lost = true;
      const err = new ClusterError('VL_ERR_CLUSTER_PRIMARY', `the link to the ${this.where} is gone`);
      onError(err);
      for (const [i, p] of this.#pending) {
        clearTimeout(p.timer);
        this.#pending.delete(i);
        p.fail(err);
      }
    });
    await this.#call('hello', member);
  }

  #receive(m: unknown): void {
    if (typeof m !== 'object' || m === null) return;
    const msg = m as IpcMessage;
    if (msg.vl === 'a') {
      const p = this.#pending.get(msg.i);
      if (!p) return;
      this.#pending.delete(msg.i);
      clearTimeout(p.timer);
      if (msg.e !== undefined) p.fail(new ClusterError('VL_ERR_CLUSTER_PRIMARY', msg.e));
      else p.ok(unpack(msg.v));
    } else if (msg.vl === 'm' && msg.to === this.#member && typeof msg.d === 'string') {
      this.#onMessage?.(Buffer.from(msg.d, 'base64'));
    }
  }

  #call<T>(op: IpcOp, ...a: unknown[]): Promise<T> {
    if (!this.ready) return Promise.reject(new ClusterError('VL_ERR_CLUSTER_PRIMARY', `the ${this.where} is unreachable (${this.status})`));
    const i = ++this.#next;
    return new Promise<T>((ok, fail) => {
      const timer = setTimeout(() => {
        this.#pending.delete(i);
        fail(new ClusterError('VL_ERR_CLUSTER_PRIMARY', `the ${this.where} did not answer ${op} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(i, { ok: ok as (v: unknown) => void, fail, timer });
      try {
        this.#link.send({ vl: 'q', i, op, a: pack(a) as unknown[] });
      } catch (err) {
        clearTimeout(timer);
        this.#pending.delete(i);
        fail(new ClusterError('VL_ERR_CLUSTER_PRIMARY', `cannot reach the ${this.where}: ${(err as Error).message}`));
      }
    });
  }

  allocIds(count: number, floor: number): Promise<number> {
    return this.#call('allocIds', count, floor);
  }

  join(publicKeyHex: string, member: string, timeoutMs: number): Promise<{ ok: true } | { ok: false; clusterKey: string }> {
    return this.#call('join', publicKeyHex, member, timeoutMs);
  }

  heartbeat(member: string, timeoutMs: number): Promise<HeartbeatResult> {
    return this.#call('heartbeat', member, timeoutMs);
  }

  create(member: string, id: number, key: Uint8Array): Promise<void> {
    return this.#call('create', member, id, key);
  }

  stale(member: string, id: number, since: number, ttlMs: number, notify: string): Promise<boolean> {
    return this.#call('stale', member, id, since, ttlMs, notify);
  }

  deliver(member: string, id: number, data: Uint8Array, ttlMs: number): Promise<'ok' | 'fwd' | 'gone'> {
    return this.#call('deliver', member, id, data, ttlMs);
  }

  kick(member: string, id: number): Promise<'fwd' | 'mine' | 'gone'> {
    return this.#call('kick', member, id);
  }

  end(member: string, id: number, data: Uint8Array | null, kick: boolean): Promise<'ended' | 'moved' | 'gone'> {
    return this.#call('end', member, id, data, kick);
  }

  claim(member: string, id: number, epoch: number, ownerDead: boolean): Promise<Exclude<ClaimResult, { reason: 'unavailable' }>> {
    return this.#call('claim', member, id, epoch, ownerDead);
  }

  adopt(dead: string, member: string, timeoutMs: number, ttlMs: number): Promise<AdoptedSession[]> {
    return this.#call('adopt', dead, member, timeoutMs, ttlMs);
  }

  lookup(id: number): Promise<SessionRecord | null> {
    return this.#call('lookup', id);
  }

  isAlive(member: string): Promise<boolean> {
    return this.#call('isAlive', member);
  }

  publish(member: string, msg: string): Promise<void> {
    return this.#call('publish', member, msg);
  }

  rewrite(member: string, id: number, key: Uint8Array, staleSince: number | null, epoch: number, missed: readonly Uint8Array[], ttlMs: number): Promise<void> {
    return this.#call('rewrite', member, id, key, staleSince, epoch, missed, ttlMs);
  }

  leave(member: string): Promise<void> {
    return this.#call('leave', member);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [i, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(i);
      p.fail(new ClusterError('VL_ERR_CLUSTER_PRIMARY', 'cluster membership closed'));
    }
    this.#link.close();
  }
}
