// A session keeps its client key and its derived session key in one compact string: both read back exactly (as
// fresh arrays a caller may overwrite), the key is derived once, and a failed derivation leaves it underived.
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
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    expect(s.sessionKey(() => key)).toEqual(key);
    expect(s.hasSessionKey).toBe(true);
    expect(s.clientKey).toEqual(odd);
    expect(s.sessionKey(() => new Error('derived twice'))).toEqual(key);
  });

  it('hands out copies: overwriting what it returned changes nothing it keeps', () => {
    const client = generateKeyPair();
    const s = new Session(7, client.publicKey, '127.0.0.1');
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    s.sessionKey(() => key).valueOf();
    key.fill(0);
    (s.sessionKey(() => new Error('derived twice')) as Uint8Array).fill(1);
    s.clientKey.fill(9);
    expect(s.sessionKey(() => new Error('derived twice'))).toEqual(Uint8Array.from({ length: 32 }, (_, i) => i * 7));
    expect(s.clientKey).toEqual(client.publicKey);
  });
});
