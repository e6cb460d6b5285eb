// The client side of the two handshakes of PROTOCOL.md sec. 3, as the load generator runs them.
import { constantTimeEqual, open, seal } from '../../src/io/crypto.js';
import { ProtocolError } from '../../src/io/errors.js';
import { dial, hsFrame, Peer, type BenchTransport, type Gate } from './peer.js';

const VERSION = hsFrame({ type: 'ProtocolVersion', version: 2 });
const PING = hsFrame({ type: 'Ping' });

export interface OpenSession {
  peer: Peer;
  id: number;
  edgeKey: Uint8Array;
}

/** A new session: ProtocolVersion, PubKey both ways, ClientId. */
export async function newSession(port: number, publicKey: Uint8Array, gate?: Gate, transport: BenchTransport = 'tcp'): Promise<OpenSession> {
  const peer = new Peer(await dial(port, gate, '127.0.0.1', transport));
  try {
    peer.socket.write(VERSION);
    const edgeKey = (await peer.expect('PubKey')).key.slice();
    peer.socket.write(hsFrame({ type: 'PubKey', key: publicKey }));
    const big = (await peer.expect('ClientId')).id;
    if (big <= 0n || big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`the edge issued id ${big}, not a safe positive integer`);
    return { peer, id: Number(big), edgeKey };
  } catch (e) {
    peer.socket.destroy();
    throw e;
  }
}

/**
 * A reconnect: ProtocolVersion, the edge's PubKey (must equal `edgeKey`), ClientId, the Challenge opened
 * with `sessionKey`, ChallengeResponse + Ping in one write, then the edge's Ping. Resolves with the peer
 * (replayed frames may already sit in it).
 */
export async function resumeSession(port: number, id: number, edgeKey: Uint8Array, sessionKey: Uint8Array, gate?: Gate): Promise<Peer> {
  const peer = new Peer(await dial(port, gate));
  try {
    peer.socket.write(VERSION);
    const key = (await peer.expect('PubKey')).key;
    if (!constantTimeEqual(key, edgeKey)) throw new Error('the edge presented a different public key on reconnect');
    peer.socket.write(hsFrame({ type: 'ClientId', id: BigInt(id) }));
    const blob = (await peer.expect('Challenge')).blob;
    const plain = open(sessionKey, blob);
    if (plain instanceof ProtocolError) throw new Error(`cannot open the edge's challenge: ${plain.message}`);
    const resp = hsFrame({ type: 'ChallengeResponse', blob: seal(sessionKey, plain) });
    const both = new Uint8Array(resp.length + PING.length);
    both.set(resp, 0);
    both.set(PING, resp.length);
    peer.socket.write(both);
    await peer.expect('Ping');
    return peer;
  } catch (e) {
    peer.socket.destroy();
    throw e;
  }
}
