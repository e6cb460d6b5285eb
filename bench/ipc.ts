// Messages between the bench and its child processes (echo master, baseline echo server), over the fork IPC channel.

export type ChildToBench =
  | { type: 'ready'; port: number }
  | { type: 'edge' }
  | { type: 'pushed'; packets: number }
  | { type: 'stats'; data: number; failures: number; reconnections: number; errors: string[] }
  | { type: 'fatal'; message: string };

export type BenchToChild =
  /** Echo master: send `count` Data packets of `size` bytes to each id (sequence 0..count-1, see payload.ts). */
  | { type: 'push'; ids: number[]; count: number; size: number }
  | { type: 'stats' };
