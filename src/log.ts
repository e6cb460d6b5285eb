// pino loggers: JSON lines, or a compact human-readable line when writing to a terminal.
import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };
export type LogFormat = 'json' | 'pretty';
export type LogLevelName = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** Formats one pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value ...`. */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 23);
  const lvl = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5);
  const fields: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (OMIT.has(k)) continue;
    fields.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return `${t} ${lvl} ${String(rec.msg ?? '')}${fields.length ? '  ' + fields.join(' ') : ''}\n`;
}

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      for (const line of text.split('\n')) if (line) out.write(prettyLine(line));
      cb();
    },
  });
}

export interface LoggerOptions {
  level: LogLevelName;
  format?: LogFormat;
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
  name?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? process.stdout;
  const format = opts.format ?? ((out as { isTTY?: boolean }).isTTY ? 'pretty' : 'json');
  const level: LevelWithSilent = opts.level === 'off' ? 'silent' : opts.level;
  const stream = format === 'pretty' ? prettyStream(out) : out;
  return pino({ level, base: opts.name ? { name: opts.name } : null, serializers: SERIALIZERS }, stream);
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent', serializers: SERIALIZERS });
}

/**
 * A session id as log lines carry it (`sessionId`): always the decimal string, `"sessionId":"42"`. Ids are 64-bit
 * (one named by a master packet or a resume may be above 2^53), which a JSON number cannot carry exactly.
 */
export function logId(id: bigint | number | string): string {
  return String(id);
}

/** Every `sessionId` field of every line in one form, whatever a call site passes. */
const SERIALIZERS = { sessionId: (v: unknown): unknown => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : v) };

/**
 * Keeps `set(on)` told whether `level` is enabled on `log`, now and after every level change: a hot path checks
 * a boolean instead of calling the logger. Returns the function that stops watching.
 */
export function watchLevel(log: Logger, level: 'trace' | 'debug', set: (on: boolean) => void): () => void {
  const update = (): void => set(log.isLevelEnabled(level));
  update();
  log.on('level-change', update);
  return () => void log.off('level-change', update);
}
