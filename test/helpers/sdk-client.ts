// The voltlane/client tests' harness: a mini edge and clients closed after each test, and small event helpers.
import { afterEach, expect, vi } from 'vitest';
import type { KeyPair } from '../../src/io/crypto.js';
import { ClientError, connect, type ClientEvents, type ClientOptions, type VoltlaneClient } from '../../src/sdk/client.js';
import { MiniEdge } from './mini-edge.js';

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const FAST: ClientOptions = { reconnect: { initialDelayMs: 5, maxDelayMs: 20, windowMs: 5_000 }, handshakeTimeoutMs: 2_000 };

/**
 * Registers an `afterEach` that restores mocks and runs the test's cleanups (last first): call once per test
 * file, at the top level. `startEdge` and `open_` register their own.
 */
export function useClientHarness() {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    cleanups,
    async startEdge(keyPair?: KeyPair): Promise<MiniEdge> {
      const edge = new MiniEdge(keyPair);
      await edge.start();
      cleanups.push(() => edge.stop());
      return edge;
    },
    async open_(address: Parameters<typeof connect>[0], options: ClientOptions = FAST): Promise<VoltlaneClient> {
      const client = await connect(address, options);
      cleanups.push(() => client.close());
      return client;
    },
  };
}

export function next<K extends keyof ClientEvents>(client: VoltlaneClient, event: K): Promise<ClientEvents[K]> {
  return new Promise((resolve) => client.once(event, ((...args: ClientEvents[K]) => resolve(args)) as never));
}

/** The next `n` messages, as text. */
export function collect(client: VoltlaneClient, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    const on = (m: Uint8Array): void => {
      got.push(text(m));
      if (got.length === n) {
        client.off('message', on);
        resolve(got);
      }
    };
    client.on('message', on);
  });
}

export async function caught(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    return e as ClientError;
  }
  throw new Error('expected a rejection');
}

export function thrown(f: () => unknown): ClientError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    return e as ClientError;
  }
  throw new Error('expected a throw');
}
