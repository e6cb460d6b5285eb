// The load generator seen from the bench's main thread: a set of worker threads, commands sent to all
// of them at once, replies gathered; a fatal report from any worker fails the run.
import { Worker } from 'node:worker_threads';
import type { Command, Reply } from './commands.js';

export class LoadGen {
  readonly #workers: Worker[];
  #rid = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #fatal: Error | null = null;
  readonly #onFatal: (e: Error) => void;

  private constructor(workers: Worker[], onFatal: (e: Error) => void) {
    this.#workers = workers;
    this.#onFatal = onFatal;
    for (const w of workers) {
      w.on('message', (r: Reply) => this.#onReply(r));
      w.on('error', (e) => this.#fail(new Error(`load-generator worker crashed: ${e.message}`)));
    }
  }

  /** Starts `count` workers; `onFatal` hears of the first wrong echo or worker crash. */
  static async start(count: number, onFatal: (e: Error) => void): Promise<LoadGen> {
    const url = new URL('./worker.js', import.meta.url);
    const workers = await Promise.all(
      Array.from({ length: count }, async () => {
        const w = new Worker(url);
        await new Promise<void>((resolve, reject) => {
          w.once('online', resolve);
          w.once('error', reject);
        });
        return w;
      }),
    );
    return new LoadGen(workers, onFatal);
  }

  get size(): number {
    return this.#workers.length;
  }

  #onReply(r: Reply): void {
    if (r.type === 'fatal') return this.#fail(new Error(r.message));
    const p = this.#pending.get(r.rid);
    if (!p) return;
    this.#pending.delete(r.rid);
    if (r.ok) p.resolve(r.result);
    else p.reject(new Error(r.error));
  }

  #fail(e: Error): void {
    if (this.#fatal) return;
    this.#fatal = e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
    this.#onFatal(e);
  }

  /** Sends `cmd(i)` to worker i, for every worker; resolves with their results in worker order. */
  all<T>(cmd: (i: number) => Command): Promise<T[]> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    return Promise.all(
      this.#workers.map(
        (w, i) =>
          new Promise<T>((resolve, reject) => {
            const rid = this.#rid++;
            this.#pending.set(rid, { resolve: resolve as (v: unknown) => void, reject });
            w.postMessage({ ...cmd(i), rid });
          }),
      ),
    );
  }

  async close(): Promise<void> {
    if (!this.#fatal) await this.all(() => ({ cmd: 'close' })).catch(() => undefined);
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Splits `total` into `parts` near-equal shares: [first, count] for each part. */
export function shares(total: number, parts: number): Array<{ first: number; count: number }> {
  const out: Array<{ first: number; count: number }> = [];
  let first = 0;
  for (let i = 0; i < parts; i++) {
    const count = Math.floor(total / parts) + (i < total % parts ? 1 : 0);
    out.push({ first, count });
    first += count;
  }
  return out;
}
