// voltlane/client over real loopback sockets: against the mini edge (sessions, echo, drops, key changes)
// and against scripted raw servers that play the vectors.json transcripts byte for byte or misbehave.
import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { generateKeyPair, keyPairFromSecret, open, sealedNonce, sessionKeyFromShared, type KeyPair } from '../../src/io/crypto.js';
import { encodeFrame } from '../../src/io/framing.js';
import { encodeHandshake } from '../../src/io/handshake.js';
import { parseAddress, formatAddress } from '../../src/sdk/client-address.js';
import { ClientError, connect, type ClientOptions, type ResumeState } from '../../src/sdk/client.js';
import { caught, collect, FAST, next, text, thrown, useClientHarness, utf8 } from '../helpers/sdk-client.js';
import { fromHex, loadVectors, toHex } from '../vectors/vectors.js';

const vectors = loadVectors();

// ---------------------------------------------------------------- harness

const { cleanups, startEdge, open_ } = useClientHarness();

/** Accumulates a socket's bytes and hands out exact-length reads. */
class Reader {
  #buf = Buffer.alloc(0);
  #want: { n: number; resolve: (b: Buffer) => void } | null = null;
  constructor(socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      this.#serve();
    });
  }
  read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.#want = { n, resolve };
      this.#serve();
    });
  }
  #serve(): void {
    const w = this.#want;
    if (!w || this.#buf.length < w.n) return;
    this.#want = null;
    const out = this.#buf.subarray(0, w.n);
    this.#buf = this.#buf.subarray(w.n);
    w.resolve(out);
  }
}

/** A raw TCP server on 127.0.0.1:0 running `script` per connection; closed after the test. */
async function scriptServer(script: (socket: net.Socket, reader: Reader) => Promise<void> | void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    void script(socket, new Reader(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

const frame = (p: Parameters<typeof encodeHandshake>[0]): Buffer => Buffer.from(encodeFrame(encodeHandshake(p)));

// ---------------------------------------------------------------- new sessions and data

describe('new session', () => {
  it('resolves with the id and the compressed key the edge sent, then emits session', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    expect(client.id).toBe(1n);
    expect(client.state).toBe('connected');
    expect(toHex(client.edgePublicKey)).toBe(toHex(edge.keyPair.publicKey));
    expect(client.edgePublicKey.length).toBe(33);
    const [id] = await next(client, 'session');
    expect(id).toBe(1n);
    const second = await open_({ host: '127.0.0.1', port: edge.port });
    expect(second.id).toBe(2n);
  });

  it('echoes 1000 messages in order', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    const got = collect(client, 1000);
    for (let i = 0; i < 1000; i++) client.send(i % 2 ? `m${i}` : utf8(`m${i}`));
    expect(await got).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
    expect(edge.sessions.get(client.id)!.received.map(text)).toEqual(await got);
  });

  it('delivers data the edge wrote in the same chunk as ClientId to listeners attached after connect resolves', async () => {
    const edge = await startEdge();
    edge.greeting = [utf8('hello'), utf8('world')];
    const client = await open_(edge.address);
    expect(await collect(client, 2)).toEqual(['hello', 'world']);
  });

  it('yields messages through the async iterator and ends it on close()', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of client) seen.push(text(m));
    })();
    for (let i = 0; i < 50; i++) client.send(`it${i}`);
    await collect(client, 50);
    await client.close();
    await loop;
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `it${i}`));
  });

  it('pauses the socket while an iterator is behind by inboxMaxMessages, and resumes when it catches up', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { ...FAST, inboxMaxMessages: 10 });
    const it = client[Symbol.asyncIterator]();
    let delivered = 0;
    client.on('message', () => delivered++);
    const sock = edge.sessions.get(client.id)!.socket!;
    await new Promise<void>((resolve) => sock.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeFrame(utf8(`p${i}`)))), () => resolve()));
    await vi.waitFor(() => expect(delivered).toBe(10));
    await new Promise((r) => setTimeout(r, 50));
    expect(delivered).toBe(10);
    const got: string[] = [];
    for (let i = 0; i < 100; i++) got.push(text((await it.next()).value as Uint8Array));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `p${i}`));
    expect(delivered).toBe(100);
  });

  it('flushes on close(): the edge gets what was sent just before, and the client does not reconnect', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    const closed = next(client, 'close');
    client.send('last words');
    await client.close();
    await closed;
    await edge.waitForEvent(`stale ${client.id}`);
    expect(edge.sessions.get(client.id)!.received.map(text)).toEqual(['last words']);
    expect(client.state).toBe('closed');
    expect(thrown(() => client.send('x')).code).toBe('VL_ERR_CLOSED');
    expect(edge.connections).toBe(1);
  });

  it('rejects messages larger than maxMessageSize', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { ...FAST, maxMessageSize: 4 });
    client.send('four');
    expect(thrown(() => client.send('fives')).code).toBe('VL_ERR_MESSAGE_TOO_LARGE');
  });
});

// ---------------------------------------------------------------- resume

describe('automatic resume', () => {
  it('resumes the same id after a drop: queued messages, then missed data, arrive in order; response and Ping in one write', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    const id = client.id;
    const order: string[] = [];
    client.on('disconnected', () => order.push('disconnected'));
    client.on('resumed', (rid) => order.push(`resumed ${rid}`));
    const write = vi.spyOn(net.Socket.prototype, 'write');
    const dropped = next(client, 'disconnected');
    edge.dropClient(id);
    await dropped;
    expect(client.state).toBe('reconnecting');
    for (let i = 0; i < 5; i++) client.send(`q${i}`);
    edge.sessions.get(id)!.missed.push(utf8('missed'));
    const got = collect(client, 6);
    await next(client, 'resumed');
    expect(client.state).toBe('connected');
    expect(await got).toEqual(['missed', 'q0', 'q1', 'q2', 'q3', 'q4']);
    expect(order).toEqual(['disconnected', `resumed ${id}`]);
    expect(edge.events.filter((e) => e.startsWith('new '))).toEqual([`new ${id}`]);
    expect(edge.resumes).toEqual([{ id, sameChunk: true }]);
    // The client's own write: ChallengeResponse frame (4 + 2 + 72 bytes) immediately followed by Ping.
    const responses = write.mock.calls
      .map((c) => c[0])
      .filter((b): b is Uint8Array => b instanceof Uint8Array && b[4] === 5 && b.length === 83);
    expect(responses).toHaveLength(1);
    expect(toHex(responses[0]!.subarray(0, 6))).toBe('4a0000000548');
    expect(toHex(responses[0]!.subarray(78))).toBe('0100000000');
  });

  it('resumes a second and a third time under the same id', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    for (let round = 1; round <= 3; round++) {
      const resumed = next(client, 'resumed');
      edge.dropClient(client.id);
      await next(client, 'disconnected');
      client.send(`round ${round}`);
      await resumed;
      expect(await collect(client, 1)).toEqual([`round ${round}`]);
    }
    expect(edge.resumes.map((r) => r.id)).toEqual([1n, 1n, 1n]);
    expect(edge.sessions.size).toBe(1);
  });

  it('fails with VL_ERR_EDGE_KEY_CHANGED, without sending its id or retrying, when the edge key changes', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address);
    edge.keyPair = generateKeyPair();
    const failed = next(client, 'failed');
    const closed = next(client, 'close');
    edge.dropClient(client.id);
    const [err] = await failed;
    await closed;
    expect(err.code).toBe('VL_ERR_EDGE_KEY_CHANGED');
    expect(err.message).toContain(toHex(edge.keyPair.publicKey));
    expect(edge.events.some((e) => e.startsWith('clientid'))).toBe(false);
    expect(edge.connections).toBe(2);
    expect(client.state).toBe('closed');
  });

  it('throws VL_ERR_QUEUE_FULL past maxQueuedMessages or maxQueuedBytes while reconnecting, and sends what fit', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { ...FAST, maxQueuedMessages: 3, maxQueuedBytes: 10 });
    const resumed = next(client, 'resumed');
    edge.dropClient(client.id);
    await next(client, 'disconnected');
    client.send('abc');
    client.send('def');
    expect(thrown(() => client.send('ghijk')).code).toBe('VL_ERR_QUEUE_FULL');
    client.send('ghij');
    const full = thrown(() => client.send(''));
    expect(full.code).toBe('VL_ERR_QUEUE_FULL');
    expect(full.message).toContain('maxQueuedMessages 3');
    const got = collect(client, 3);
    await resumed;
    expect(await got).toEqual(['abc', 'def', 'ghij']);
  });

  it('fails with VL_ERR_DISCONNECTED on a drop when reconnect is disabled', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { reconnect: { enabled: false } });
    const failed = next(client, 'failed');
    edge.dropClient(client.id);
    const [err] = await failed;
    expect(err.code).toBe('VL_ERR_DISCONNECTED');
    expect(edge.connections).toBe(1);
  });

  it('close() while reconnecting stops every attempt and timer', async () => {
    const edge = await startEdge();
    edge.unknownIdAnswer = 'ping';
    const client = await open_(edge.address);
    const id = client.id;
    const disconnected = next(client, 'disconnected');
    edge.dropClient(id);
    edge.forget(id);
    await disconnected;
    await edge.waitForEvent(`refused unknown id ${id}`);
    const closed = next(client, 'close');
    await client.close();
    await closed;
    expect(client.state).toBe('closed');
    const attempts = edge.connections;
    // Backoff is 5..20 ms: a live reconnect loop would dial several times in 100 ms.
    await new Promise((r) => setTimeout(r, 100));
    expect(edge.connections).toBe(attempts);
  });
});

// ---------------------------------------------------------------- resume after a restart

describe('resumeState', () => {
  it('round-trips through JSON: a new client object resumes the same id after the first one closed', async () => {
    const edge = await startEdge();
    const a = await open_(edge.address);
    const json = JSON.stringify(a.resumeState());
    await a.close();
    await edge.waitForEvent(`stale ${a.id}`);
    const state = JSON.parse(json) as ResumeState;
    expect(state).toEqual({
      id: String(a.id),
      secretKey: expect.stringMatching(/^[0-9a-f]{64}$/),
      edgePublicKey: toHex(edge.keyPair.publicKey),
      address: edge.address,
    });
    const b = await open_(state.address, { ...FAST, resume: state });
    expect(b.id).toBe(a.id);
    expect(b.edgePublicKey).toEqual(a.edgePublicKey);
    expect(b.resumeState()).toEqual(state);
    const [sid] = await next(b, 'session');
    expect(sid).toBe(a.id);
    b.send('after restart');
    expect(await collect(b, 1)).toEqual(['after restart']);
    expect(edge.sessions.size).toBe(1);
    expect(edge.resumes).toEqual([{ id: a.id, sameChunk: true }]);
  });

  it('rejects a malformed resume state with VL_ERR_BAD_RESUME_STATE', async () => {
    const good: ResumeState = {
      id: '1',
      secretKey: vectors.crypto.client.private,
      edgePublicKey: vectors.crypto.edge.public_compressed,
      address: '127.0.0.1:1',
    };
    for (const bad of [{ ...good, id: '-1' }, { ...good, id: '18446744073709551616' }, { ...good, secretKey: 'zz' }, { ...good, edgePublicKey: '02' + '00'.repeat(32) }]) {
      expect((await caught(connect('127.0.0.1:1', { resume: bad }))).code).toBe('VL_ERR_BAD_RESUME_STATE');
    }
  });
});

// ---------------------------------------------------------------- byte-exact transcripts

describe('vectors.json transcripts', () => {
  const clientKeys = keyPairFromSecret(fromHex(vectors.crypto.client.private)) as KeyPair;

  it('new session: the client writes exactly the transcript bytes and takes ClientId(1234)', async () => {
    const steps = vectors.transcripts.new_session;
    const port = await scriptServer(async (socket, reader) => {
      for (const step of steps) {
        if (step.from === 'edge') socket.write(fromHex(step.hex));
        else expect(toHex(await reader.read(step.hex.length / 2))).toBe(step.hex);
      }
    });
    const client = await open_(`127.0.0.1:${port}`, { ...FAST, keyPair: clientKeys });
    expect(client.id).toBe(1234n);
    expect(toHex(client.edgePublicKey)).toBe(vectors.crypto.edge.public_compressed);
  });

  it('reconnect: fixed bytes match, the response opens to the challenge secret under a fresh nonce, Ping in the same write', async () => {
    const steps = vectors.transcripts.reconnect;
    const sessionKey = fromHex(vectors.crypto.session_key);
    const challenge = fromHex(steps[3]!.hex).subarray(6);
    const response = steps[4]!;
    let checked = false;
    const port = await scriptServer(async (socket, reader) => {
      for (const step of steps) {
        if (step.from === 'edge') {
          socket.write(fromHex(step.hex));
        } else if (step !== response) {
          expect(toHex(await reader.read(step.hex.length / 2))).toBe(step.hex);
        } else {
          const got = await reader.read(response.hex.length / 2);
          expect(toHex(got.subarray(0, 6))).toBe(response.hex.slice(0, 12));
          expect(toHex(got.subarray(got.length - 5))).toBe('0100000000');
          const blob = got.subarray(6, got.length - 5);
          expect(toHex(sealedNonce(blob)!)).not.toBe(toHex(sealedNonce(challenge)!));
          expect(toHex(open(sessionKey, blob) as Uint8Array)).toBe(toHex(open(sessionKey, challenge) as Uint8Array));
          checked = true;
        }
      }
    });
    const resume: ResumeState = {
      id: '1234',
      secretKey: vectors.crypto.client.private,
      edgePublicKey: vectors.crypto.edge.public_compressed,
      address: `127.0.0.1:${port}`,
    };
    const client = await open_(resume.address, { ...FAST, resume, reconnect: { enabled: false } });
    expect(checked).toBe(true);
    expect(client.id).toBe(1234n);
    expect(toHex(sessionKeyFromShared(fromHex(vectors.crypto.shared_secret)))).toBe(vectors.crypto.session_key);
  });
});

// ---------------------------------------------------------------- a misbehaving edge

describe('handshake failures', () => {
  const edgePub = fromHex(vectors.crypto.edge.public_compressed);

  async function connectTo(script: (socket: net.Socket, reader: Reader) => Promise<void> | void, options: ClientOptions = FAST): Promise<ClientError> {
    const port = await scriptServer(script);
    return caught(connect(`127.0.0.1:${port}`, options));
  }

  it('rejects a truncated PubKey as malformed (VL_ERR_HANDSHAKE)', async () => {
    const body = encodeHandshake({ type: 'PubKey', key: edgePub }).subarray(0, 20);
    const err = await connectTo(async (s, r) => {
      await r.read(6);
      s.write(encodeFrame(body));
    });
    expect(err.code).toBe('VL_ERR_HANDSHAKE');
    expect(err.message).toMatch(/waiting for PubKey: malformed packet from the edge/);
  });

  it('rejects a packet other than the step expects', async () => {
    const err = await connectTo(async (s, r) => {
      await r.read(6);
      s.write(frame({ type: 'Ping' }));
    });
    expect(err.code).toBe('VL_ERR_HANDSHAKE');
    expect(err.message).toBe('expected PubKey from the edge, got Ping');
  });

  it('rejects a public key that is not a curve point', async () => {
    const err = await connectTo(async (s, r) => {
      await r.read(6);
      s.write(frame({ type: 'PubKey', key: fromHex(vectors.crypto.invalid_public_keys[0]!.hex) }));
    });
    expect(err.code).toBe('VL_ERR_HANDSHAKE');
    expect(err.message).toMatch(/invalid public key/);
  });

  it('rejects a frame over maxFrameSize before buffering it', async () => {
    const err = await connectTo(async (s, r) => {
      await r.read(6);
      s.write(Buffer.from('00000001', 'hex'));
    });
    expect(err.code).toBe('VL_ERR_HANDSHAKE');
    expect(err.message).toMatch(/exceeds the cap of 8388608/);
  });

  it('times out a stalled step with VL_ERR_HANDSHAKE_TIMEOUT', async () => {
    const err = await connectTo(() => {}, { handshakeTimeoutMs: 100 });
    expect(err.code).toBe('VL_ERR_HANDSHAKE_TIMEOUT');
    expect(err.message).toBe('the edge did not send PubKey within 100 ms');
  });

  it('reports an edge that closes mid-handshake', async () => {
    const err = await connectTo(async (s, r) => {
      await r.read(6);
      s.write(frame({ type: 'PubKey', key: edgePub }));
      await r.read(4 + 35);
      s.end();
    });
    expect(err.code).toBe('VL_ERR_HANDSHAKE');
    expect(err.message).toMatch(/^waiting for ClientId: /);
  });

  it('reports a refused TCP connection with VL_ERR_CONNECT', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const closedPort = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const err = await caught(connect(`127.0.0.1:${closedPort}`, FAST));
    expect(err.code).toBe('VL_ERR_CONNECT');
    expect(err.message).toContain(`127.0.0.1:${closedPort}`);
  });

  it('keeps retrying a resume against an edge that sends garbage, then fails when the window ends', async () => {
    const edge = await startEdge();
    const client = await open_(edge.address, { ...FAST, reconnect: { initialDelayMs: 5, maxDelayMs: 10, windowMs: 150 } });
    const port = await scriptServer(async (s, r) => {
      await r.read(6);
      s.write(frame({ type: 'PubKey', key: edge.keyPair.publicKey }));
      await r.read(4 + 2);
      s.write(encodeFrame(Uint8Array.of(4, 0x30, 1, 2)));
    });
    // Point the session at the garbage edge: resume from the persisted state on another address.
    const state = { ...client.resumeState(), address: `127.0.0.1:${port}` };
    const err = await caught(connect(state.address, { ...FAST, resume: state, reconnect: { initialDelayMs: 5, maxDelayMs: 10, windowMs: 150 } }));
    expect(err.code).toBe('VL_ERR_RESUME_FAILED');
    expect(err.message).toMatch(/attempts\); last: waiting for Challenge: malformed packet/);
    expect(err.cause).toBeInstanceOf(ClientError);
  });
});

// ---------------------------------------------------------------- addresses and options

describe('addresses and options', () => {
  it('parses host:port, [v6]:port, v6:port (last colon) and objects', () => {
    expect(parseAddress('127.0.0.1:42000')).toEqual({ host: '127.0.0.1', port: 42000 });
    expect(parseAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    expect(parseAddress('[::1]:42000')).toEqual({ host: '::1', port: 42000 });
    expect(parseAddress('::1:42000')).toEqual({ host: '::1', port: 42000 });
    expect(parseAddress({ host: '[::1]', port: 5 })).toEqual({ host: '::1', port: 5 });
    expect(formatAddress({ host: '::1', port: 5 })).toBe('[::1]:5');
    for (const bad of ['', '127.0.0.1', '127.0.0.1:', ':80', 'h:0', 'h:65536', 'h:8o', '[::1]', '[]:80', 'a b:80']) {
      expect(thrown(() => parseAddress(bad)).code).toBe('VL_ERR_BAD_ADDRESS');
    }
  });

  it('rejects bad options, naming the key', async () => {
    const err = await caught(connect('127.0.0.1:1', { reconnect: { windowMs: -1 } }));
    expect(err.code).toBe('VL_ERR_BAD_OPTIONS');
    expect(err.message).toContain('reconnect.windowMs');
    expect((await caught(connect('127.0.0.1:1', { maxFrameSize: 10 }))).message).toContain('maxFrameSize');
    expect((await caught(connect('127.0.0.1:1', { onSessionLost: 'retry' as never }))).message).toContain('onSessionLost');
    expect((await caught(connect('127.0.0.1:1', { keyPair: { secretKey: new Uint8Array(32), publicKey: new Uint8Array(33) } }))).message).toContain('keyPair');
  });
});
