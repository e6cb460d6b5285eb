// The TLS certificate files of [tls]: loaded at start, reloaded on SIGHUP and when the files change; a bad
// new set is logged and the current one kept.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../../log.js';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle for client certificates; "" for none. */
  caFile: string;
}

/** What a tls.Server needs of the files, with the protocol floor. */
export type ContextOptions = tls.SecureContextOptions & { minVersion: 'TLSv1.2' };

/** Delay after a file change before reading: editors and renewals write several files in a row. */
const SETTLE_MS = 150;

export class TlsCertificates {
  readonly files: CertificateFiles;
  readonly #log: Logger;
  #options: ContextOptions;
  /** The PEM text last applied, to skip reloads that change nothing. */
  #applied: string;
  readonly #listeners = new Set<(o: ContextOptions) => void>();
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** Times the certificates were replaced. */
  reloads = 0;

  /** Reads and checks the files; throws an Error naming the file at fault. */
  constructor(files: CertificateFiles, log: Logger) {
    this.files = files;
    this.#log = log;
    const { options, text } = this.#read();
    this.#options = options;
    this.#applied = text;
  }

  get requestCert(): boolean {
    return this.files.caFile !== '';
  }

  get options(): ContextOptions {
    return this.#options;
  }

  /** Calls `fn` with the new options after each successful reload. */
  onReload(fn: (o: ContextOptions) => void): void {
    this.#listeners.add(fn);
  }

  #read(): { options: ContextOptions; text: string } {
    const f = this.files;
    const read = (path: string, what: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    const cert = read(f.certFile, 'certificate file (tls.cert_file)');
    const key = read(f.keyFile, 'key file (tls.key_file)');
    const ca = f.caFile !== '' ? read(f.caFile, 'CA file (tls.ca_file)') : undefined;
    const options: ContextOptions = { cert, key, minVersion: 'TLSv1.2', ...(ca !== undefined ? { ca } : {}) };
    try {
      tls.createSecureContext(options); // a key that does not match the certificate fails here
    } catch (err) {
      throw new Error(`TLS certificate ${f.certFile} and key ${f.keyFile} do not load: ${(err as Error).message}`, { cause: err });
    }
    return { options, text: `${cert}\0${key}\0${ca ?? ''}` };
  }

  /** Reads the files again; applies them if they load and differ. Returns whether new certificates apply. */
  reload(why: string): boolean {
    let next: { options: ContextOptions; text: string };
    try {
      next = this.#read();
    } catch (err) {
      this.#log.error({ reason: why, err: (err as Error).message }, 'tls.reload_failed: keeping the current certificates');
      return false;
    }
    if (next.text === this.#applied) {
      // Asked for by hand (SIGHUP): say so; a file watch event that changes nothing stays quiet.
      if (why === 'SIGHUP') this.#log.info({ reason: why }, 'tls.reload: files unchanged');
      else this.#log.debug({ reason: why }, 'tls.reload: files unchanged');
      return false;
    }
    this.#options = next.options;
    this.#applied = next.text;
    this.reloads++;
    for (const fn of this.#listeners) fn(next.options);
    this.#log.info({ reason: why, cert: this.files.certFile }, 'tls.reloaded: new connections get the new certificates');
    return true;
  }

  /**
   * Watches the files' directories (renewals often replace files by rename, or swap a symlinked directory),
   * and reloads a short while after any change there.
   */
  watch(): void {
    if (this.#watchers.length > 0) return;
    const f = this.files;
    const names = new Set([f.certFile, f.keyFile, f.caFile].filter((p) => p !== '').map((p) => basename(p)));
    const dirs = new Set([f.certFile, f.keyFile, f.caFile].filter((p) => p !== '').map((p) => dirname(p)));
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          // Symlink swaps (..data in Kubernetes secrets) change other names: any change in the directory counts,
          // except obvious noise from unrelated files when the name is known and is not one of ours or a link.
          if (name !== null && !names.has(String(name)) && !String(name).startsWith('..')) return;
          this.#schedule();
        });
        w.on('error', (err) => this.#log.warn({ dir, err: err.message }, 'tls.watch_failed: reload with SIGHUP'));
        this.#watchers.push(w);
      } catch (err) {
        this.#log.warn({ dir, err: (err as Error).message }, 'tls.watch_failed: reload with SIGHUP');
      }
    }
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.reload('files changed');
    }, SETTLE_MS);
    this.#timer.unref();
  }

  close(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#listeners.clear();
  }
}
