// What the bench's main thread asks a load-generator worker to do, and what each command answers.

export type Command =
  /** Open `count` echo clients (indexes first..first+count-1); through the edge's handshake when `edge`. */
  | { cmd: 'echo.open'; port: number; edge: boolean; first: number; count: number; size: number; inflight: number; transport?: 'tcp' | 'tls' | 'ws' }
  /** Start the closed loop on every echo client. */
  | { cmd: 'echo.run' }
  /** Open the measurement window (counters and histogram reset). */
  | { cmd: 'echo.mark' }
  /** Close the window: round trips and latency histogram since `echo.mark`. */
  | { cmd: 'echo.collect' }
  /** Stop sending, wait for every echo still in flight, close the clients. */
  | { cmd: 'echo.finish' }
  /** Generate `count` fresh client key pairs for the next `sessions.open`. */
  | { cmd: 'keys'; count: number }
  /**
   * Open `count` new sessions, at most `concurrency` handshakes at once, and hold them. `freshKeys`: one
   * pre-generated key pair per session (else one key for all); `sessionKeys`: derive each session key after.
   */
  | { cmd: 'sessions.open'; port: number; count: number; concurrency: number; freshKeys: boolean; sessionKeys: boolean }
  /** Drop every held session's socket (the sessions go stale on the edge). */
  | { cmd: 'sessions.drop' }
  /** Resume every dropped session, `inflight` at a time, and expect `packets` buffered packets of `size` bytes on each, in order. */
  | { cmd: 'sessions.resume'; port: number; connectGate: number; inflight: number; packets: number; size: number }
  /** Close everything this worker holds. */
  | { cmd: 'close' };

export interface EchoCollect {
  roundTrips: number;
  hist: Uint32Array;
}

export interface SessionsOpened {
  ids: number[];
}

export interface SessionsResumed {
  resumed: number;
  packets: number;
}

export type Request = Command & { rid: number };

export type Reply =
  | { type: 'reply'; rid: number; ok: true; result: unknown }
  | { type: 'reply'; rid: number; ok: false; error: string }
  | { type: 'fatal'; message: string };
