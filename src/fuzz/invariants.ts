// The lifecycle invariants: what the clients and the master observed, checked against the model and against
// PROTOCOL.md's rules (exactly once, in order, one Failure for the session's end and only Failures after it, each
// answering later master data, none of its own after a Kick, ids never reused).
import { Flag, FLAG_NAMES, type FirehosePacket } from '../io/firehose.js';
import { UNKNOWN_CLIENT, type ExpectedPacket, type ModelSession } from './model.js';

const text = (b: Uint8Array): string => {
  const s = Buffer.from(b).toString('utf8');
  return s.length > 40 ? `${s.slice(0, 40)}...(${b.length} B)` : s;
};

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

/** What the system observed for one session. */
export interface Observed {
  session: ModelSession;
  /** Data frames the client received, socket after socket. */
  received: Uint8Array[];
  /** Firehose packets the master received for this id. */
  atMaster: FirehosePacket[];
  /** Resumes that passed (the edge sent the final Ping). */
  resumesPassed: number;
}

/** Violations of the rules, one line each; empty when all hold. */
export function checkSession(o: Observed): string[] {
  const out: string[] = [];
  const s = o.session;
  const who = `session ${s.id}`;
  // Client side: exactly the model's frames, in order.
  const seen = new Set<string>();
  for (const f of o.received) {
    const k = Buffer.from(f).toString('latin1');
    if (seen.has(k)) out.push(`${who}: client received "${text(f)}" twice (exactly-once broken)`);
    seen.add(k);
  }
  out.push(...diff(`${who}: client`, s.toClient, o.received));
  // Master side. After the session's end, each master Data for the id is answered with one more Failure.
  const failures = o.atMaster.filter((p) => p.flag === Flag.Failure);
  const own = s.toMaster.filter((p) => p.flag === Flag.Failure && !p.answer).length;
  const answers = s.toMaster.filter((p) => p.answer).length;
  if (failures.length > own + answers) {
    out.push(
      `${who}: master received ${failures.length} Failures, expected ${own + answers} ` +
        `(${own} for the session's end, ${answers} answering master data sent after it)`,
    );
  }
  const first = o.atMaster.findIndex((p) => p.flag === Flag.Failure);
  if (first >= 0 && o.atMaster.slice(first).some((p) => p.flag !== Flag.Failure)) {
    out.push(`${who}: master received a packet other than Failure after the session's Failure (Failure must be last)`);
  }
  if (s.endedBy === 'kick' && own === 0 && failures.length > answers) {
    out.push(`${who}: master received Failure "${text(failures[0]!.data)}" for a kicked session (no Failure after a Kick but the answers to later data)`);
  }
  const reconnections = o.atMaster.filter((p) => p.flag === Flag.Reconnection).length;
  if (reconnections !== o.resumesPassed) {
    out.push(`${who}: ${o.resumesPassed} resume(s) passed but the master received ${reconnections} Reconnection(s)`);
  }
  out.push(...diffMaster(who, s, o.atMaster));
  return out;
}

function diff(who: string, want: Uint8Array[], got: Uint8Array[]): string[] {
  const n = Math.min(want.length, got.length);
  for (let i = 0; i < n; i++) {
    if (!same(want[i]!, got[i]!)) return [`${who} frame #${i} is "${text(got[i]!)}", expected "${text(want[i]!)}" (order or loss)`];
  }
  if (got.length < want.length) return [`${who} received ${got.length} of ${want.length} frames; first missing: "${text(want[got.length]!)}"`];
  if (got.length > want.length) return [`${who} received ${got.length - want.length} unexpected extra frame(s), first "${text(got[want.length]!)}"`];
  return [];
}

function describe(p: { flag: number; data: Uint8Array }): string {
  const name = FLAG_NAMES[p.flag] ?? `flag ${p.flag}`;
  return p.flag === Flag.Data ? `Data "${text(p.data)}"` : p.flag === Flag.Failure ? `Failure "${text(p.data)}"` : name;
}

function diffMaster(who: string, s: ModelSession, got: FirehosePacket[]): string[] {
  const want = s.toMaster;
  const n = Math.min(want.length, got.length);
  for (let i = 0; i < n; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.flag !== g.flag || (w.flag === Flag.Data && !same(w.data, g.data))) {
      return [`${who}: master packet #${i} is ${describe(g)}, expected ${describe(w)}`];
    }
  }
  if (got.length < want.length) return [`${who}: master received ${got.length} of ${want.length} packets; first missing: ${describe(want[got.length]!)}`];
  if (got.length > want.length) return [`${who}: master received unexpected ${describe(got[want.length]!)}`];
  return [];
}

/** Ids are never handed out twice: `id` is new to every id this edge issued to the fuzzer before. */
export function checkIds(id: bigint, issued: Set<bigint>): string[] {
  return issued.has(id) ? [`id ${id} was issued twice (ids must never be reused)`] : [];
}

/**
 * Several links (a cluster): order is kept per link only, so the packets the master got are put in the model's
 * order when each link's packets are, in order, the model's packets for that link (a link's later packets may
 * still be missing: `matched` are the expected packets found). Any packet out of its link's order leaves the
 * observed order as it is, for the checks to report.
 */
export function inLinkOrder<P extends FirehosePacket & { slot: number }>(want: ExpectedPacket[], got: P[]): { ordered: P[]; matched: ExpectedPacket[] } {
  const queues = new Map<number, P[]>();
  for (const p of got) {
    let q = queues.get(p.slot);
    if (!q) queues.set(p.slot, (q = []));
    q.push(p);
  }
  const ordered: P[] = [];
  const matched: ExpectedPacket[] = [];
  const done = new Set<number>();
  for (const w of want) {
    // The Failure answering data for an ended id comes from whichever edge got the data last (the old edge, or
    // the holder it forwarded the data to when the session ended on the way): any link whose next packet it is.
    const slot = w.answer ? ([...queues].find(([k, q]) => !done.has(k) && q[0]?.flag === Flag.Failure && Buffer.from(q[0].data).toString() === UNKNOWN_CLIENT)?.[0] ?? w.slot) : w.slot;
    if (done.has(slot)) continue;
    const q = queues.get(slot);
    const p = q?.[0];
    if (!p) {
      done.add(slot);
      continue;
    }
    if (p.flag !== w.flag || (w.flag === Flag.Data && !same(w.data, p.data))) return { ordered: got, matched: want.slice(0, got.length) };
    ordered.push(q!.shift()!);
    matched.push(w);
  }
  for (const p of got) if (queues.get(p.slot)?.includes(p)) ordered.push(p);
  return { ordered, matched };
}
