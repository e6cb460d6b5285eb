// Runs every entry of test/vectors/vectors.json against the protocol core, one named test per entry.
import { describe, expect, it } from 'vitest';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ProtocolError, type ProtocolErrorCode } from '../../../src/io/errors.js';
import { decodeVarint, encodeVarint, type UintType } from '../../../src/io/varint.js';
import { decodeHandshake, encodeHandshake, PROTOCOL_VERSION, type HandshakePacket } from '../../../src/io/handshake.js';
import { encodeFrame, encodeFrameHeader, FrameDecoder, framePieces } from '../../../src/io/framing.js';
import { decodeFirehose, encodeFirehose, FLAG_NAMES, readIdNumber, type FlagValue } from '../../../src/io/firehose.js';
import {
  constantTimeEqual,
  deriveSessionKey,
  HKDF_LABEL,
  keyPairFromSecret,
  open,
  parsePublicKey,
  seal,
  sealedNonce,
  sessionKeyFromShared,
  sharedSecret,
} from '../../../src/io/crypto.js';
import { fromHex, loadVectors, toHex, type TranscriptStep } from '../../vectors/vectors.js';
import { bytewise, drain, splitsOf } from './drain.js';

const V = loadVectors();
const ALL_TYPES: UintType[] = ['u16', 'u32', 'u64'];

function expectError(r: unknown, code?: ProtocolErrorCode): asserts r is ProtocolError {
  expect(r).toBeInstanceOf(ProtocolError);
  const e = r as ProtocolError;
  expect(e.code).toMatch(/^VL_ERR_[A-Z_]+$/);
  if (code) expect(e.code).toBe(code);
}

function ok<T>(r: T | ProtocolError): T {
  if (r instanceof ProtocolError) throw new Error(`unexpected ${r.code}: ${r.message}`);
  return r;
}

/** The code an invalid varint vector must produce, read from its stated reason. */
function varintCode(reason: string): ProtocolErrorCode {
  if (reason.startsWith('non-minimal')) return 'VL_ERR_VARINT_NON_MINIMAL';
  if (reason.includes('truncated') || reason.startsWith('empty')) return 'VL_ERR_TRUNCATED';
  if (reason.includes('marker')) return 'VL_ERR_VARINT_MARKER';
  if (reason.includes('does not fit')) return 'VL_ERR_VARINT_OVERFLOW';
  throw new Error(`no expected code for varint vector reason: ${reason}`);
}

describe('vectors: protocol version', () => {
  it('matches PROTOCOL_VERSION', () => {
    expect(PROTOCOL_VERSION).toBe(V.protocol_version);
  });
});

describe('vectors: varint', () => {
  const valid = V.varint.valid.flatMap((v) => v.types.map((type) => ({ ...v, type })));
  it.each(valid)('decodes and encodes $value as $type <-> $hex', ({ value, type, hex }) => {
    expect(decodeVarint(fromHex(hex), type)).toBe(BigInt(value));
    expect(toHex(encodeVarint(BigInt(value)))).toBe(hex);
  });

  const unlisted = V.varint.valid.flatMap((v) =>
    ALL_TYPES.filter((t) => !v.types.includes(t)).map((type) => ({ ...v, type })),
  );
  it.each(unlisted)('rejects $value ($hex) when decoding the narrower $type', ({ type, hex }) => {
    expectError(decodeVarint(fromHex(hex), type), 'VL_ERR_VARINT_OVERFLOW');
  });

  it.each(V.varint.invalid)('rejects $type "$hex": $reason', ({ hex, type, reason }) => {
    expectError(decodeVarint(fromHex(hex), type), varintCode(reason));
  });
});

function packetFromVector(v: (typeof V.handshake.valid)[number]): HandshakePacket {
  switch (v.type) {
    case 'Ping':
      return { type: 'Ping' };
    case 'ProtocolVersion':
      return { type: 'ProtocolVersion', version: Number(v.value) };
    case 'ClientId':
      return { type: 'ClientId', id: BigInt(v.value!) };
    case 'PubKey':
      return { type: 'PubKey', key: fromHex(v.bytes!) };
    case 'Challenge':
      return { type: 'Challenge', blob: fromHex(v.bytes!) };
    case 'ChallengeResponse':
      return { type: 'ChallengeResponse', blob: fromHex(v.bytes!) };
    default:
      throw new Error(`unknown handshake type in vectors: ${v.type}`);
  }
}

describe('vectors: handshake', () => {
  it.each(V.handshake.valid)('decodes and re-encodes $name', (v) => {
    const bytes = fromHex(v.hex);
    const p = ok(decodeHandshake(bytes));
    expect(p.type).toBe(v.type);
    expect(bytes[0]).toBe(v.variant);
    switch (p.type) {
      case 'ProtocolVersion':
        expect(p.version).toBe(Number(v.value));
        break;
      case 'ClientId':
        expect(p.id).toBe(BigInt(v.value!));
        break;
      case 'PubKey':
        expect(toHex(p.key)).toBe(v.bytes);
        break;
      case 'Challenge':
      case 'ChallengeResponse':
        expect(toHex(p.blob)).toBe(v.bytes);
        break;
      case 'Ping':
        expect(v.value).toBeUndefined();
        expect(v.bytes).toBeUndefined();
        break;
    }
    expect(toHex(encodeHandshake(p))).toBe(v.hex);
    expect(toHex(encodeHandshake(packetFromVector(v)))).toBe(v.hex);
  });

  it.each(V.handshake.invalid)('rejects "$hex": $reason', ({ hex }) => {
    expectError(decodeHandshake(fromHex(hex)));
  });
});

describe('vectors: framing', () => {
  describe.each(V.framing.valid)('valid frame: $name', ({ payload, hex }) => {
    const bytes = fromHex(hex);

    it('decodes whole', () => {
      const d = new FrameDecoder();
      const r = drain([bytes], d);
      expect(r.error).toBeNull();
      expect(r.frames.map(toHex)).toEqual([payload]);
      expect(d.bufferedBytes).toBe(0);
    });

    it('decodes split at every byte and fed byte by byte', () => {
      for (const [at, chunks] of splitsOf(bytes)) {
        const r = drain(chunks);
        expect(r.error, `split at ${at}`).toBeNull();
        expect(r.frames.map(toHex), `split at ${at}`).toEqual([payload]);
      }
      expect(drain(bytewise(bytes)).frames.map(toHex)).toEqual([payload]);
    });

    it('encodes exactly', () => {
      const p = fromHex(payload);
      expect(toHex(encodeFrame(p))).toBe(hex);
      const [head, body] = framePieces(p);
      expect(toHex(head) + toHex(body)).toBe(hex);
      expect(toHex(encodeFrameHeader(p.length))).toBe(hex.slice(0, 8));
    });
  });

  describe('stream of frames back to back', () => {
    const { hex, payloads } = V.framing.stream;
    const bytes = fromHex(hex);

    it('decodes every payload in order from one chunk', () => {
      const d = new FrameDecoder();
      const r = drain([bytes], d);
      expect(r.error).toBeNull();
      expect(r.frames.map(toHex)).toEqual(payloads);
      expect(d.bufferedBytes).toBe(0);
    });

    it.each([...splitsOf(bytes)].map(([at, chunks]) => ({ at, chunks })))(
      'decodes every payload in order when split at byte $at',
      ({ chunks }) => {
        const r = drain(chunks);
        expect(r.error).toBeNull();
        expect(r.frames.map(toHex)).toEqual(payloads);
      },
    );

    it('decodes every payload in order fed byte by byte', () => {
      expect(drain(bytewise(bytes)).frames.map(toHex)).toEqual(payloads);
    });

    it('re-encodes to the same bytes', () => {
      expect(payloads.map((p) => toHex(encodeFrame(fromHex(p)))).join('')).toBe(hex);
    });
  });

  it.each(V.framing.incomplete)('waits for more bytes on "$hex" ($reason)', ({ hex }) => {
    const bytes = fromHex(hex);
    for (const [at, chunks] of splitsOf(bytes)) {
      const d = new FrameDecoder();
      for (const c of chunks) d.push(c);
      expect(d.next(), `split at ${at}`).toBeNull();
      expect(d.next(), `split at ${at}, asked again`).toBeNull();
      // Nothing is lost: what is not buffered is the header already read.
      const headerRead = d.pendingFrameLength >= 0 ? 4 : 0;
      expect(d.bufferedBytes + headerRead, `split at ${at}`).toBe(bytes.length);
    }
  });
});

describe('vectors: crypto', () => {
  const C = V.crypto;
  const parties = [
    { name: 'edge', ...C.edge },
    { name: 'client', ...C.client },
  ];

  it.each(parties)('derives the $name public key from its private key', (p) => {
    const kp = ok(keyPairFromSecret(fromHex(p.private)));
    expect(toHex(kp.publicKey)).toBe(p.public_compressed);
    expect(toHex(kp.secretKey)).toBe(p.private);
  });

  it.each(parties)('parses the $name public key, compressed and uncompressed, to compressed', (p) => {
    expect(toHex(ok(parsePublicKey(fromHex(p.public_compressed))))).toBe(p.public_compressed);
    expect(toHex(ok(parsePublicKey(fromHex(p.public_uncompressed))))).toBe(p.public_compressed);
  });

  const ecdh = [
    { from: 'edge', to: 'client', enc: 'compressed', sk: C.edge.private, pk: C.client.public_compressed },
    { from: 'edge', to: 'client', enc: 'uncompressed', sk: C.edge.private, pk: C.client.public_uncompressed },
    { from: 'client', to: 'edge', enc: 'compressed', sk: C.client.private, pk: C.edge.public_compressed },
    { from: 'client', to: 'edge', enc: 'uncompressed', sk: C.client.private, pk: C.edge.public_uncompressed },
  ];
  it.each(ecdh)('computes the shared secret and session key from $from to $to ($enc key)', ({ sk, pk }) => {
    expect(toHex(ok(sharedSecret(fromHex(sk), fromHex(pk))))).toBe(C.shared_secret);
    expect(toHex(ok(deriveSessionKey(fromHex(sk), fromHex(pk))))).toBe(C.session_key);
  });

  it('derives the session key with HKDF-SHA256 and the listed salt and info', () => {
    expect(toHex(HKDF_LABEL)).toBe(C.hkdf.salt);
    expect(toHex(HKDF_LABEL)).toBe(C.hkdf.info);
    const independent = hkdf(sha256, fromHex(C.shared_secret), fromHex(C.hkdf.salt), fromHex(C.hkdf.info), C.hkdf.length);
    expect(toHex(independent)).toBe(C.session_key);
    expect(toHex(sessionKeyFromShared(fromHex(C.shared_secret)))).toBe(C.session_key);
  });

  it.each(C.seal)('seals and opens: $name', ({ key, plaintext, nonce, blob }) => {
    const k = fromHex(key);
    expect(toHex(seal(k, fromHex(plaintext), fromHex(nonce)))).toBe(blob);
    expect(toHex(ok(open(k, fromHex(blob))))).toBe(plaintext);
    expect(toHex(sealedNonce(fromHex(blob))!)).toBe(nonce);
  });

  it.each(C.open_must_fail)('refuses to open: $name', ({ key, blob }) => {
    const b = fromHex(blob);
    expectError(open(fromHex(key), b), b.length < 40 ? 'VL_ERR_SEALED_TOO_SHORT' : 'VL_ERR_OPEN_FAILED');
  });

  it.each(C.invalid_public_keys)('rejects the public key: $name', ({ hex }) => {
    expectError(parsePublicKey(fromHex(hex)), 'VL_ERR_BAD_PUBLIC_KEY');
    expectError(deriveSessionKey(fromHex(C.edge.private), fromHex(hex)));
  });
});

describe('vectors: firehose', () => {
  it.each(V.firehose.valid)('decodes and encodes $name', ({ id, flags, type, data, hex }) => {
    const r = drain([fromHex(hex)]);
    expect(r.error).toBeNull();
    expect(r.frames).toHaveLength(1);
    const p = ok(decodeFirehose(r.frames[0]!));
    expect(p.id).toBe(BigInt(id));
    expect(p.flag).toBe(flags);
    expect(FLAG_NAMES[p.flag]).toBe(type);
    expect(toHex(p.data)).toBe(data);

    const safe = BigInt(id) <= BigInt(Number.MAX_SAFE_INTEGER);
    expect(readIdNumber(r.frames[0]!, 0)).toBe(safe ? Number(id) : -1);

    expect(toHex(encodeFirehose(BigInt(id), flags as FlagValue, fromHex(data)))).toBe(hex);
    if (safe) expect(toHex(encodeFirehose(Number(id), flags as FlagValue, fromHex(data)))).toBe(hex);
  });

  it.each(V.firehose.invalid)('rejects "$hex": $reason', ({ hex }) => {
    const r = drain([fromHex(hex)]);
    expect(r.error).toBeNull();
    expect(r.frames).toHaveLength(1);
    const payload = r.frames[0]!;
    expectError(decodeFirehose(payload), payload.length < 9 ? 'VL_ERR_SHORT_PACKET' : 'VL_ERR_UNKNOWN_FLAG');
  });
});

const PACKET_NAMES = /\b(ChallengeResponse|Challenge|ProtocolVersion|PubKey|ClientId|Ping)\b/g;

/**
 * The packet types a transcript step announces in its `what`, in order: arguments in parentheses
 * and any remark after a colon are dropped ("ChallengeResponse(...) = ..., then Ping" -> both).
 */
function expectedTypes(step: TranscriptStep): string[] {
  let what = step.what;
  for (let prev = ''; prev !== what; ) [prev, what] = [what, what.replace(/\([^()]*\)/g, '')];
  return [...what.split(':')[0]!.matchAll(PACKET_NAMES)].map((m) => m[1]!);
}

function replay(steps: TranscriptStep[]): Array<{ step: TranscriptStep; packets: HandshakePacket[] }> {
  return steps.map((step) => {
    const r = drain([fromHex(step.hex)]);
    expect(r.error).toBeNull();
    return { step, packets: r.frames.map((f) => ok(decodeHandshake(f))) };
  });
}

describe('vectors: transcripts', () => {
  const C = V.crypto;
  const transcripts = [
    { name: 'new_session', steps: V.transcripts.new_session },
    { name: 'reconnect', steps: V.transcripts.reconnect },
  ];

  describe.each(transcripts)('$name', ({ steps }) => {
    it.each(steps.map((step, i) => ({ n: String(i + 1), ...step })))('step $n: $from sends $what', (step) => {
      const packets = replay([step]).flatMap((s) => s.packets);
      expect(packets.map((p) => p.type)).toEqual(expectedTypes(step));
    });

    it('decodes each side\'s byte stream split at every byte into the same packets', () => {
      for (const side of ['client', 'edge'] as const) {
        const mine = steps.filter((s) => s.from === side);
        const bytes = fromHex(mine.map((s) => s.hex).join(''));
        const want = mine.flatMap(expectedTypes);
        for (const [at, chunks] of splitsOf(bytes)) {
          const r = drain(chunks);
          expect(r.error, `${side} split at ${at}`).toBeNull();
          expect(r.frames.map((f) => ok(decodeHandshake(f)).type), `${side} split at ${at}`).toEqual(want);
        }
      }
    });
  });

  it('new_session carries version 2, both public keys and the session key', () => {
    const packets = replay(V.transcripts.new_session).flatMap((s) => s.packets);
    const [version, edgeKey, clientKey, id] = packets;
    expect(version).toEqual({ type: 'ProtocolVersion', version: PROTOCOL_VERSION });
    expect(edgeKey?.type === 'PubKey' && toHex(edgeKey.key)).toBe(C.edge.public_compressed);
    if (clientKey?.type !== 'PubKey') throw new Error('third packet is not PubKey');
    expect(toHex(ok(deriveSessionKey(fromHex(C.edge.private), clientKey.key)))).toBe(C.session_key);
    expect(id).toEqual({ type: 'ClientId', id: 1234n });
  });

  it('reconnect: the response opens with the session key to the challenge\'s 32 bytes, under a fresh nonce', () => {
    const packets = replay(V.transcripts.reconnect).flatMap((s) => s.packets);
    const edgeKey = packets.find((p) => p.type === 'PubKey');
    expect(edgeKey?.type === 'PubKey' && toHex(edgeKey.key)).toBe(C.edge.public_compressed);
    expect(packets.find((p) => p.type === 'ClientId')).toEqual({ type: 'ClientId', id: 1234n });
    const challenge = packets.find((p) => p.type === 'Challenge');
    const response = packets.find((p) => p.type === 'ChallengeResponse');
    if (challenge?.type !== 'Challenge' || response?.type !== 'ChallengeResponse') throw new Error('missing challenge');
    const key = fromHex(C.session_key);
    const secret = ok(open(key, challenge.blob));
    const echoed = ok(open(key, response.blob));
    expect(secret).toHaveLength(32);
    expect(constantTimeEqual(secret, echoed)).toBe(true);
    expect(toHex(sealedNonce(response.blob)!)).not.toBe(toHex(sealedNonce(challenge.blob)!));
    expect(packets.at(-1)).toEqual({ type: 'Ping' });
  });
});
