// A session keeps its client key and its derived session key in one array: both read back exactly, the key is
// derived once, and a failed derivation leaves it underived.
import { describe, expect, it } from 'vitest';
import { Session } from '../../../src/actors/session.js';
import { deriveSessionKey, generateKeyPair } from '../../../src/io/crypto.js';

describe('Session keys', () => {
  it('reads back the compressed client key and derives the session key once', () => {
    const edge = generateKeyPair();
    for (let i = 0; i < 20; i++) {
      const client = generateKeyPair();
      const s = new Session(i + 1, client.publicKey, '127.0.0.1');
      expect(s.clientKey).toEqual(client.publicKey);
      expect(s.hasSessionKey).toBe(false);
      let calls = 0;
      const derive = (k: Uint8Array) => {
        calls++;
        return deriveSessionKey(edge.secretKey, k);
      };
      const want = deriveSessionKey(client.secretKey, edge.publicKey);
      expect(s.sessionKey(derive)).toEqual(want);
      expect(s.sessionKey(derive)).toEqual(want);
      expect(calls).toBe(1);
      expect(s.hasSessionKey).toBe(true);
      expect(s.clientKey).toEqual(client.publicKey);
    }
  });

  it('keeps a key of another shape as given, and stays underived when derivation fails', () => {
    const odd = Uint8Array.from([4, ...new Uint8Array(64).fill(7)]);
    const s = new Session(1, odd, '::1');
    expect(s.clientKey).toEqual(odd);
    expect(s.sessionKey(() => new Error('nope'))).toBeInstanceOf(Error);
    expect(s.hasSessionKey).toBe(false);
    expect(s.sessionKey(() => new Uint8Array(5))).toBeInstanceOf(Error);
    expect(s.hasSessionKey).toBe(false);
  });
});
