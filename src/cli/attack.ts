// `voltlane attack KIND --target HOST:PORT`: runs one of the attacks of src/attack against an edge, bounded in
// time and count, with a legitimate probe alongside; prints a summary (and --json for scripts).
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { checkAddress } from '../config/address.js';
import { ATTACK_KINDS, loopbackSources, runAttack, type AttackKind, type AttackOptions } from '../attack/attack.js';

export const ATTACK_HELP = `voltlane attack KIND --target HOST:PORT [options]

Attacks your own edge, to check that its defences hold: bounded in time (--duration, at most 600 s)
and in connections (--max). Only point it at an edge you run.

Kinds:
  id-lockout      asks to resume the ids of --ids and answers the challenges wrongly (or, for
                  --silent-share of them, not at all): the owners must still resume at once
  slowloris       opens connections that never say a word, to fill the handshake cap
  tiny-segments   opens sessions and feeds an 8 MiB frame a few bytes at a time
  session-flood   opens throwaway sessions and drops them (they go stale)
  conn-flood      connects and closes at once

Options:
  --target HOST:PORT     the edge (required)
  --duration SECS        how long to run (default 10, at most 600)
  --rate N               new connections per second over all sources (default 100)
  --max N                most connections in all (default 100000)
  --sources N|A,B,...    connect from N loopback addresses 127.0.100.2... (loopback targets only) or
                         from the listed local addresses (default: the system's choice)
  --ids A-B|A,B,...      id-lockout: the ids to hammer (default 1-100)
  --silent-share F       id-lockout: share of challenges held silently, 0 to 1 (default 0.5)
  --segment-bytes N      tiny-segments: bytes per write (default 1)
  --segment-every MS     tiny-segments: ms between writes per connection (default 10)
  --no-probe             no legitimate probe alongside
  --probe-every MS       a probe new session and resume every MS (default 100)
  --probe-resume-after MS  the probe's client stays away this long before resuming (default 0)
  --probe-from ADDR      the probe's local address (default: the system's choice), e.g. 127.0.0.1 while
                         --sources floods from 127.0.100.x
  --json                 print the report as JSON
`;

class AttackUsageError extends Error {}

export async function runAttackCommand(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        target: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        max: { type: 'string' },
        sources: { type: 'string' },
        ids: { type: 'string' },
        'silent-share': { type: 'string' },
        'segment-bytes': { type: 'string' },
        'segment-every': { type: 'string' },
        'no-probe': { type: 'boolean' },
        'probe-every': { type: 'string' },
        'probe-resume-after': { type: 'string' },
        'probe-from': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`voltlane attack: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(ATTACK_HELP);
    return 0;
  }
  let o: AttackOptions;
  try {
    o = options(positionals[0], values);
  } catch (err) {
    if (!(err instanceof AttackUsageError)) throw err;
    process.stderr.write(`voltlane attack: ${err.message}\n`);
    return 2;
  }
  const r = await runAttack(o);
  if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    const p = r.probe;
    const lines = [
      `${r.kind} against ${o.host}:${o.port} for ${r.durationSecs} s: ${r.opened} connections opened (${r.connectErrors} failed to connect), ` +
        `${r.closedByEdge} closed by the edge while held, ${r.answered} handshake answers, ${r.bytesSent} bytes sent`,
      ...(p
        ? [
            `probe new sessions: ${p.newSessions.ok} ok, ${p.newSessions.failed} failed (${pct(p.newSessions)}), p50 ${p.newSessions.p50Ms} ms, max ${p.newSessions.maxMs} ms${reasons(p.newSessions)}`,
            `probe resumes:      ${p.resumes.ok} ok, ${p.resumes.failed} failed (${pct(p.resumes)}), p50 ${p.resumes.p50Ms} ms, max ${p.resumes.maxMs} ms${reasons(p.resumes)}`,
          ]
        : []),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}

function reasons(c: { errors: Record<string, number> }): string {
  const e = Object.entries(c.errors);
  return e.length === 0 ? '' : `; failed: ${e.map(([m, n]) => `${m} x${n}`).join(', ')}`;
}

function pct(c: { ok: number; failed: number }): string {
  const n = c.ok + c.failed;
  return n === 0 ? 'none' : `${((100 * c.ok) / n).toFixed(1)}% ok`;
}

function num(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!/^[0-9.]+$/.test(raw) || !Number.isFinite(n) || n < min || n > max) throw new AttackUsageError(`--${name} must be a number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

function options(kind: string | undefined, v: Record<string, string | boolean | undefined>): AttackOptions {
  if (!kind || !(ATTACK_KINDS as readonly string[]).includes(kind)) {
    throw new AttackUsageError(`the attack kind must be one of ${ATTACK_KINDS.join(', ')} (voltlane attack --help)`);
  }
  const target = v.target;
  if (typeof target !== 'string') throw new AttackUsageError('--target HOST:PORT is required');
  const addr = checkAddress(target);
  if (typeof addr === 'string') throw new AttackUsageError(`--target: ${addr}`);
  const loopback = /^127\./.test(addr.host) || addr.host === '::1' || addr.host === 'localhost';
  let sources: string[] = [];
  const rawSources = v.sources;
  if (typeof rawSources === 'string') {
    if (/^[0-9]+$/.test(rawSources)) {
      if (!loopback) throw new AttackUsageError('--sources N makes loopback addresses: give a list of local addresses for a non-loopback target');
      sources = loopbackSources(num('sources', rawSources, 1, 1, 10_000));
    } else sources = rawSources.split(',').map((s) => s.trim()).filter(Boolean);
  }
  return {
    kind: kind as AttackKind,
    host: addr.host === 'localhost' ? '127.0.0.1' : addr.host,
    port: addr.port,
    durationSecs: num('duration', v.duration as string | undefined, 10, 0.1, 600),
    rate: num('rate', v.rate as string | undefined, 100, 0.1, 100_000),
    maxConnections: num('max', v.max as string | undefined, 100_000, 1, 10_000_000),
    sources,
    ids: ids(v.ids as string | undefined),
    silentShare: num('silent-share', v['silent-share'] as string | undefined, 0.5, 0, 1),
    segmentBytes: num('segment-bytes', v['segment-bytes'] as string | undefined, 1, 1, 65_536),
    segmentEveryMs: num('segment-every', v['segment-every'] as string | undefined, 10, 1, 60_000),
    probe: v['no-probe'] !== true,
    probeEveryMs: num('probe-every', v['probe-every'] as string | undefined, 100, 1, 60_000),
    probeResumeAfterMs: num('probe-resume-after', v['probe-resume-after'] as string | undefined, 0, 0, 60_000),
    ...(typeof v['probe-from'] === 'string' ? { probeFrom: localAddress(v['probe-from']) } : {}),
  };
}

function localAddress(raw: string): string {
  if (isIP(raw.trim()) === 0) throw new AttackUsageError(`--probe-from: expected an IP address of this machine, not ${JSON.stringify(raw)}`);
  return raw.trim();
}

function ids(raw: string | undefined): bigint[] {
  const text = raw ?? '1-100';
  const out: bigint[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*([0-9]+)\s*(?:-\s*([0-9]+))?\s*$/.exec(part);
    if (!m) throw new AttackUsageError(`--ids: expected ranges like 1-100 or lists like 4,8,15, not ${JSON.stringify(text)}`);
    const a = BigInt(m[1]!);
    const b = m[2] !== undefined ? BigInt(m[2]) : a;
    if (b < a || b - a > 1_000_000n) throw new AttackUsageError(`--ids: bad range ${part.trim()}`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}
