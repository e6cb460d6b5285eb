// Tests aimed at defences that a plausible one-line bug would break silently: master data queued for the old
// socket at a takeover, data for the next id not yet issued, count settings of 0, ids of 2^53 and above in a
// saved resume state.
import { describe, expect, it } from 'vitest';
import { Flag } from '../../src/io/firehose.js';
import { deriveSessionKey, generateKeyPair, open as openSealed, seal } from '../../src/io/crypto.js';
import { decodeHandshake } from '../../src/io/handshake.js';
import { parseConfigText, DEFAULT_CONFIG } from '../../src/config/index.js';
import { KEYS } from '../../src/config/schema.js';
import { parseResumeState, sessionSecrets, toResumeState } from '../../src/sdk/client-resume-state.js';
import { dial, FrameQueue, hs, sleep, text } from '../helpers/wire.js';
import { useEdgeFixture } from '../helpers/edge.js';

const fx = useEdgeFixture();
const { open, newSession, marker } = fx;

/** Blocks the event loop (edge included: it runs in this process) so that what arrives meanwhile is read in one turn. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* busy */
  }
}

describe('takeover: master data queued for the old socket', () => {
  it('goes to the new socket, in order, when it arrives in the same turn as the winning Ping', async () => {
    const t = await fx.start();
    const c = await newSession();
    for (let round = 1; round <= 6; round++) {
      // A takeover: the old socket still looks alive to the edge.
      const s = await dial(t.port);
      open.push(s);
      const q = new FrameQueue(s);
      s.write(hs({ type: 'ProtocolVersion', version: 2 }));
      await q.next();
      s.write(hs({ type: 'ClientId', id: c.id }));
      const ch = decodeHandshake(await q.next());
      if (ch instanceof Error || ch.type !== 'Challenge') throw new Error('expected a Challenge');
      const key = deriveSessionKey(c.keyPair.secretKey, c.edgeKey) as Uint8Array;
      s.write(hs({ type: 'ChallengeResponse', blob: seal(key, openSealed(key, ch.blob) as Uint8Array) }));
      await sleep(50); // the response is checked; the edge waits for the Ping
      // Master data for the session and the Ping that completes the takeover, read in the same turn.
      t.master.send(c.id, Flag.Data, Buffer.from(`m${round}-a`));
      t.master.send(c.id, Flag.Data, Buffer.from(`m${round}-b`));
      s.write(hs({ type: 'Ping' }));
      stall(40);
      expect(Buffer.from(await q.next())).toEqual(Buffer.from([0])); // the edge's Ping
      expect(text(await q.next(3000, `m${round}-a`))).toBe(`m${round}-a`);
      expect(text(await q.next(3000, `m${round}-b`))).toBe(`m${round}-b`);
      c.socket = s;
      c.q = q;
    }
  });
});

describe('master data for ids not issued', () => {
  it('the next id, not yet issued, is answered with Failure like any other unknown id', async () => {
    const t = await fx.start();
    const a = await newSession();
    const b = await newSession();
    expect(b.id).toBe(a.id + 1n);
    t.master.send(b.id + 1n, Flag.Data, Buffer.from('early'));
    const f = await t.master.expect((p) => p.flag === Flag.Failure, 3000, 'Failure for the next id');
    expect(f.id).toBe(b.id + 1n);
    // Issuing it later gives a clean session: nothing of the early data reaches it.
    const c = await newSession();
    expect(c.id).toBe(b.id + 1n);
    await marker(c, 'clean');
    expect(c.q.frames).toHaveLength(0);
  });
});

describe('count settings', () => {
  // Every count whose 0 would switch a defence off or make the edge refuse everyone.
  const mustBePositive = [
    'limits.max_connections',
    'limits.max_connections_per_address',
    'limits.new_connections_burst',
    'limits.max_handshakes_in_flight',
    'limits.failed_resumes_per_address_per_min',
    'limits.min_frame_bytes_per_sec',
    'limits.max_frame_size',
    'clients.channel_capacity',
    'clients.channel_capacity_bytes',
    'master.channel_capacity',
    'master.channel_capacity_bytes',
  ];

  it.each(mustBePositive)('%s = 0 is refused, naming the key; 1 is accepted', (dotted) => {
    expect(KEYS.some((k) => k.dotted === dotted)).toBe(true);
    const [section, key] = dotted.split('.') as [string, string];
    expect(() => parseConfigText(`[${section}]\n${key} = 0\n`)).toThrow(dotted);
    expect(() => parseConfigText(`[${section}]\n${key} = -1\n`)).toThrow(dotted);
    expect(() => parseConfigText(`[${section}]\n${key} = 1\n`)).not.toThrow();
  });

  it('defaults of those counts are all positive', () => {
    for (const dotted of mustBePositive) {
      const k = KEYS.find((e) => e.dotted === dotted)!;
      const v = (DEFAULT_CONFIG as unknown as Record<string, Record<string, number>>)[k.section]![k.field]!;
      expect(v, dotted).toBeGreaterThan(0);
    }
  });
});

describe('saved resume state', () => {
  it.each([2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n + 12345n, 2n ** 64n - 1n])('keeps id %s exact through JSON', (id) => {
    const kp = generateKeyPair();
    const edge = generateKeyPair();
    const secrets = sessionSecrets(id, kp, edge.publicKey);
    if (secrets instanceof Error) throw secrets;
    const json = JSON.stringify(toResumeState(secrets, '127.0.0.1:1'));
    expect(json).toContain(`"${id.toString()}"`);
    const back = parseResumeState(JSON.parse(json));
    expect(back.id).toBe(id);
  });
});
