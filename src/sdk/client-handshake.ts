// The client's side of the two handshakes of PROTOCOL.md sec. 3 (new session, reconnect), over a Link.
import { bytesToHex } from '@noble/hashes/utils.js';
import { constantTimeEqual, open, parsePublicKey, seal, type KeyPair } from '../io/crypto.js';
import { ProtocolError } from '../io/errors.js';
import { PROTOCOL_VERSION } from '../io/handshake.js';
import { ClientError } from './client-errors.js';
import type { Link } from './client-link.js';
import { sessionSecrets, type SessionSecrets } from './client-resume-state.js';

const hex = bytesToHex;

/** Steps 1-2 of both flows: announce the version, read and validate the edge's key (compressed). */
async function greet(link: Link): Promise<Uint8Array> {
  link.send({ type: 'ProtocolVersion', version: PROTOCOL_VERSION });
  const { key } = await link.read('PubKey');
  const edgeKey = parsePublicKey(key);
  if (edgeKey instanceof ProtocolError) {
    link.destroy(edgeKey.message);
    throw new ClientError('VL_ERR_HANDSHAKE', `the edge sent an invalid public key: ${edgeKey.message}`);
  }
  return edgeKey;
}

/**
 * New session: ProtocolVersion(2) -> edge PubKey -> our PubKey -> ClientId. On success the
 * link's next frames are application data.
 */
export async function startSession(link: Link, keyPair: KeyPair): Promise<SessionSecrets> {
  const edgeKey = await greet(link);
  link.send({ type: 'PubKey', key: keyPair.publicKey });
  const { id } = await link.read('ClientId');
  const secrets = sessionSecrets(id, keyPair, edgeKey);
  if (secrets instanceof ProtocolError) {
    link.destroy(secrets.message);
    throw new ClientError('VL_ERR_HANDSHAKE', `cannot derive the session key: ${secrets.message}`);
  }
  return secrets;
}

/**
 * Reconnect: ProtocolVersion(2) -> edge PubKey (must equal the session's) -> ClientId(id) ->
 * Challenge -> ChallengeResponse (fresh nonce) + Ping in one write -> the edge's Ping. A changed
 * edge key rejects with VL_ERR_EDGE_KEY_CHANGED before our id is revealed.
 */
export async function resumeSession(link: Link, s: SessionSecrets): Promise<void> {
  const edgeKey = await greet(link);
  if (!constantTimeEqual(edgeKey, s.edgePublicKey)) {
    link.destroy('edge key changed');
    throw new ClientError(
      'VL_ERR_EDGE_KEY_CHANGED',
      `the edge's public key changed (session ${s.id} began with ${hex(s.edgePublicKey)}, the edge now presents ${hex(edgeKey)}); refusing to resume`,
    );
  }
  link.send({ type: 'ClientId', id: s.id });
  let blob: Uint8Array;
  try {
    ({ blob } = await link.read('Challenge'));
  } catch (err) {
    // Step 4: "if id names no session, the edge closes". One such close is not proof (an edge going
    // down closes its handshakes too): the caller decides how many make the session lost.
    if (link.closedByPeerSilently && err instanceof ClientError && err.code === 'VL_ERR_HANDSHAKE') {
      throw new ClientError('VL_ERR_SESSION_LOST', `the edge closed the connection after ClientId(${s.id}) without a Challenge: it does not know session ${s.id}`, { cause: err });
    }
    throw err;
  }
  const secret = open(s.sessionKey, blob);
  if (secret instanceof ProtocolError) {
    link.destroy(secret.message);
    throw new ClientError('VL_ERR_HANDSHAKE', `the edge's challenge for session ${s.id} does not open with the session key: ${secret.message}`);
  }
  link.send({ type: 'ChallengeResponse', blob: seal(s.sessionKey, secret) }, { type: 'Ping' });
  await link.read('Ping');
}
