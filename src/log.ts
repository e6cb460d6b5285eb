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
  return pino({ level, base: opts.name ? { name: opts.name } : null }, stream);
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A session id as log lines carry it (`sessionId`): always a JSON number. Ids the edge issues are safe integers;
 * an id above 2^53 - 1 (named by a master packet or a resume, never issued) is written with all its digits.
 */
export function logId(id: bigint | number): number | bigint {
  return typeof id === 'bigint' && id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
}
