// The Prometheus metrics of one edge (a registry per edge): every value is read at scrape time from the
// edge's counters, its session registry and the lifecycle recorder; nothing runs on the packet path.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Edge } from '../actors/edge.js';
import { replayBytes, replayCount } from '../actors/replay-buffer.js';
import { sessionPhase } from '../machines/session.js';
import type { InspectorStats } from '../inspect/inspector.js';
import type { LifecycleRecorder } from './lifecycle.js';
import { REFUSAL_CLASSES } from './refusals.js';
import { TRANSPORTS } from '../actors/transports/connection.js';

export interface MetricsSources {
  edge: Edge;
  lifecycle: LifecycleRecorder;
  /** Inspection counters, when the inspector is on. */
  inspector?: () => InspectorStats;
}

/** Session states as the metrics and the status page count them: the session machine's leaf states. */
export const SESSION_STATES = ['live.connected', 'live.challenged', 'away.stale', 'away.challenged'] as const;
export type SessionStateName = (typeof SESSION_STATES)[number];

export interface SessionScan {
  byState: Record<SessionStateName, number>;
  missedPackets: number;
  missedBytes: number;
}

/** One pass over the session registry (at scrape time only). */
export function scanSessions(edge: Edge): SessionScan {
  const byState = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<SessionStateName, number>;
  let missedPackets = 0;
  let missedBytes = 0;
  for (const s of edge.sessions.values()) {
    const value = s.stateValue;
    const phase = sessionPhase(value);
    const away = typeof value === 'object' && value !== null && 'away' in value;
    const key: SessionStateName =
      phase === 'stale' ? 'away.stale' : phase === 'challenged' ? (away ? 'away.challenged' : 'live.challenged') : 'live.connected';
    byState[key]++;
    missedPackets += replayCount(s.replay);
    missedBytes += replayBytes(s.replay);
  }
  return { byState, missedPackets, missedBytes };
}

const MASTER_STATES = ['connecting', 'connected', 'backingOff', 'draining', 'stopped'] as const;

export class EdgeMetrics {
  readonly registry = new Registry();
  readonly #src: MetricsSources;
  #scan: SessionScan | null = null;

  constructor(src: MetricsSources) {
    this.#src = src;
    const r = [this.registry];
    const { edge, lifecycle } = src;
    const scan = () => (this.#scan ??= scanSessions(edge));
    /** A counter whose value is read from a running total at scrape time. */
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: r,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const labelledTotal = (name: string, help: string, label: string, read: () => Iterable<[string, number]>, all: readonly string[] = []) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: r,
        collect() {
          this.reset();
          for (const v of all) this.inc({ [label]: v }, 0);
          for (const [k, n] of read()) this.inc({ [label]: k }, n);
        },
      });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: r,
        collect() {
          this.set(read());
        },
      });

    new Gauge({
      name: 'voltlane_sessions',
      help: 'Sessions by state of the session machine',
      labelNames: ['state'],
      registers: r,
      collect() {
        for (const [state, n] of Object.entries(scan().byState)) this.set({ state }, n);
      },
    });
    gauge('voltlane_handshakes_in_flight', 'Connections still in their handshake', () => edge.stats().handshaking);
    gauge('voltlane_open_sockets', 'Client sockets open (sessions and handshakes)', () => edge.stats().openSockets);
    total('voltlane_handshakes_started_total', 'Connections accepted into a handshake', () => lifecycle.handshakesStarted);
    labelledTotal('voltlane_handshakes_completed_total', 'Handshakes that finished: a new session or a resume', 'kind', () =>
      Object.entries(lifecycle.completed),
    );
    labelledTotal(
      'voltlane_refusals_total',
      'Connections and handshakes refused, by reason (per_address_* are per-address limits)',
      'reason',
      () => lifecycle.refusals,
      REFUSAL_CLASSES,
    );
    labelledTotal(
      'voltlane_refusals_by_transport_total',
      'Connections and handshakes refused, by the transport they came in on',
      'transport',
      () => lifecycle.refusalsByTransport,
      TRANSPORTS,
    );
    labelledTotal(
      'voltlane_handshakes_started_by_transport_total',
      'Connections accepted into a handshake, by transport',
      'transport',
      () => lifecycle.handshakesByTransport,
      TRANSPORTS,
    );
    gauge(
      'voltlane_refused_addresses',
      'Distinct client addresses refused by a per-address limit in the last minute (at most 10000 tracked)',
      () => lifecycle.refusedAddresses(),
    );
    labelledTotal('voltlane_resumes_total', 'Resume attempts by result', 'result', () => [
      ['ok', edge.counters.resumes],
      ['failed', edge.counters.resumesFailed],
    ]);
    labelledTotal('voltlane_reaps_total', 'Sessions ended, by reason', 'reason', () => lifecycle.reaps);
    total('voltlane_failures_sent_total', 'Failure packets sent to the master', () => edge.counters.failuresSent);
    total('voltlane_kicks_total', 'Sessions ended by a Kick from the master', () => edge.counters.kicks);
    total('voltlane_replayed_packets_total', 'Missed packets replayed to resumed clients', () => edge.counters.replayed);
    total('voltlane_idle_memory_releases_total', 'Young generations given back to the system after a burst (general.release_idle_memory)', () => edge.idleMemory?.releases ?? 0);
    gauge('voltlane_replay_buffer_packets', 'Master packets held for stale sessions', () => scan().missedPackets);
    gauge('voltlane_replay_buffer_bytes', 'Bytes held for stale sessions', () => scan().missedBytes);
    gauge(
      'voltlane_client_buffer_bytes',
      'Memory buffered for clients against limits.client_buffer_budget_bytes: replay buffers (blocks and overhead) and the queues of clients behind (bytes plus 160 per packet)',
      () => edge.clientBudget.used,
    );
    gauge('voltlane_client_buffer_budget_bytes', 'limits.client_buffer_budget_bytes as resolved (auto: from the machine\'s memory)', () => edge.clientBudget.budget);
    labelledTotal('voltlane_client_buffer_drops_total', 'What the client buffer budget dropped: replay buffers of stale sessions (ended), clients behind (disconnected)', 'what', () => [
      ['stale_buffer', edge.clientBudget.counters.staleBuffersDropped],
      ['slow_client', edge.clientBudget.counters.slowReadersClosed],
    ]);
    labelledTotal('voltlane_firehose_packets_total', 'Packets on the master link, by direction', 'direction', () => {
      const t = edge.traffic();
      return [
        ['to_master', t.packetsToMaster],
        ['from_master', t.packetsFromMaster],
      ];
    });
    labelledTotal('voltlane_firehose_bytes_total', 'Bytes on the master link, by direction', 'direction', () => {
      const t = edge.traffic();
      return [
        ['to_master', t.bytesToMaster],
        ['from_master', t.bytesFromMaster],
      ];
    });
    gauge('voltlane_held_for_master_packets', 'Packets held while the master link is down or slow', () => edge.stats().heldForMaster);
    gauge('voltlane_master_link_up', '1 when the master link is connected', () => (edge.masterState === 'connected' ? 1 : 0));
    new Gauge({
      name: 'voltlane_master_link_state',
      help: 'The supervisor machine state (1 for the current one)',
      labelNames: ['state'],
      registers: r,
      collect() {
        const now = edge.masterState;
        for (const s of MASTER_STATES) this.set({ state: s }, s === now ? 1 : 0);
      },
    });
    total('voltlane_master_reconnects_total', 'Master link connections after the first', () => edge.traffic().masterReconnects);
    total('voltlane_accept_errors_total', 'Failures to accept a client connection (EMFILE/ENFILE at the file-descriptor limit, ...)', () => edge.counters.acceptErrors);
    total('voltlane_handshakes_shed_total', 'Idle handshakes dropped at the handshake cap to make room for new connections', () => edge.counters.handshakesShed);
    total('voltlane_slow_frames_total', 'Clients cut off for sending a frame slower than limits.min_frame_bytes_per_sec', () => edge.counters.slowFrames);
    total('voltlane_master_protocol_errors_total', 'Malformed packets from the master, skipped', () => edge.counters.masterProtocolErrors);
    const cluster = edge.cluster;
    if (cluster) {
      if (cluster.backend.kind === 'redis') {
        gauge('voltlane_cluster_redis_up', '1 while Redis answers and this edge is a member of the cluster', () => (cluster.ready ? 1 : 0));
        total('voltlane_cluster_redis_errors_total', 'Redis commands that failed', () => cluster.counters.errors);
      }
      new Gauge({
        name: 'voltlane_cluster_store_up',
        help: '1 while the cluster store (redis, or primary: the --workers primary process) answers and this edge is a member',
        labelNames: ['backend'],
        registers: r,
        collect() {
          this.set({ backend: cluster.backend.kind }, cluster.ready ? 1 : 0);
        },
      });
      labelledTotal('voltlane_cluster_store_errors_total', 'Cluster store operations that failed', 'backend', () => [[cluster.backend.kind, cluster.counters.errors]]);
      gauge('voltlane_cluster_members', 'Living members of the cluster, this edge included (as of the last heartbeat)', () => cluster.members.length);
      labelledTotal('voltlane_cluster_refusals_total', 'Work refused because the cluster store was unreachable', 'what', () => [
        ['new_session', cluster.counters.refusedNewSessions],
        ['resume', cluster.counters.refusedResumes],
      ]);
      labelledTotal('voltlane_cluster_forwarded_packets_total', 'Master packets that reached the wrong edge, forwarded to the owner', 'direction', () => [
        ['out', cluster.counters.forwardedOut],
        ['in', cluster.counters.forwardedIn],
      ]);
      total('voltlane_cluster_claims_total', 'Sessions claimed in the cluster store by a resume on this edge', () => cluster.counters.claims);
      total('voltlane_cluster_adopted_total', 'Sessions of dead edges adopted by this edge', () => cluster.counters.adopted);
      total('voltlane_cluster_resyncs_total', 'Times the cluster store came back without the cluster data and the sessions were written again', () => cluster.counters.resyncs);
    }
    if (src.inspector) {
      const stats = src.inspector;
      gauge('voltlane_inspector_clients', 'Inspector UIs connected to the relay', () => stats().clients);
      total('voltlane_inspector_events_sent_total', 'Inspection events sent (once per UI)', () => stats().sent);
      labelledTotal('voltlane_inspector_events_dropped_total', 'Inspection events dropped', 'why', () => [
        ['queue_full', stats().droppedQueueFull],
        ['slow_client', stats().droppedSlowClient],
      ]);
    }
    // Event-loop lag (nodejs_eventloop_lag_*), heap (nodejs_heap_*), CPU, fds: prom-client's defaults.
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; the session registry is scanned once per call. */
  async text(): Promise<string> {
    this.#scan = null;
    try {
      return await this.registry.metrics();
    } finally {
      this.#scan = null;
    }
  }
}
