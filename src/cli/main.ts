#!/usr/bin/env node
// The `voltlane` command: parse argv, dispatch to run / echo-master / client / demo. Nothing else.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/index.js';

const HELP = `voltlane: edge connection server (many clients -> one tagged firehose to your backend)

Usage:
  voltlane [--config FILE] [--listen ADDR] [--master ADDR] [--log-level LEVEL] [--log-format pretty|json]
           [--inspect [PORT]] [--inspect-sessions N] [--inspect-id ID] [--http ADDR] [--workers N|auto]
      Run the edge daemon. FILE defaults to ./connserver.toml, written with commented
      defaults on first start; a FILE named with --config must exist (voltlane init writes one).
      The edge key is kept in voltlane.key beside it.
      Precedence: flags > environment (VOLTLANE_<SECTION>_<KEY>) > .env > file > defaults.
      --inspect [PORT]      relay for the Stately inspector on 127.0.0.1 (default port 9465,
                            or general.inspect_port); prints the URL to open
      --inspect-sessions N  inspect at most N sessions at a time (default 10); the supervisor always
      --inspect-id ID       also inspect session ID
      --http ADDR           status server: /metrics, /healthz, /readyz, status page at /
                            (or [http] address; e.g. 127.0.0.1:9464)
      --workers N|auto      N processes share the listening port as one cluster (or general.workers;
                            auto: one per core); the primary process holds the shared sessions,
                            or Redis does with [cluster] redis_url
  voltlane init [--config FILE] [--force]
      Write the commented default config to FILE (default ./connserver.toml, parent directories
      too) and create the edge key (mode 0600) where it says. An existing FILE is kept unless
      --force; an existing key is never replaced.
  voltlane machines [session|supervisor] [--format mermaid|json|dot|xstate]
      Print the session and supervisor machines (states, events, guards, delays),
      generated from their definitions; xstate: the config createMachine accepts.
  voltlane echo-master [--listen ADDR]
      A demo backend: listens for the edge (default 127.0.0.1:42001) and echoes every Data packet.
  voltlane client ADDR [--ca FILE] [--servername NAME] [--cert FILE --key FILE]
      An interactive client: stdin lines go out, replies are printed; survives drops by resuming.
      ADDR is host:port (TCP), tls://host:port, ws://host:port/path or wss://host:port/path;
      --ca trusts the edge certificate's CA (PEM), --cert/--key present a client certificate.
  voltlane demo [--browser [ADDR]]
      Starts an edge, an echo master and a few clients in one process and shows traffic,
      a dropped client resuming, and its replayed packets. --browser serves a page (default
      http://127.0.0.1:42090/) where the browser client talks to the edge over WebSocket.
  voltlane fuzz --config PATH [--http ADDR] [--runs N] [--seed S] [--replay FILE]
      Fuzz a running edge's session lifecycle: be its master and its clients, with the settings of
      its config file, confirmed by its status server (or --edge HOST:PORT --master-listen ADDR;
      voltlane fuzz --help).
  voltlane attack KIND --target HOST:PORT [--duration SECS] [--rate N] [--sources N] ...
      Attack your own edge (id-lockout, slowloris, tiny-segments, session-flood, conn-flood),
      bounded in time and count, with a legitimate probe alongside (voltlane attack --help).
  voltlane --help | --version

Addresses: host:port, [::1]:port or ::1:port (clients also tls://, ws://, wss://). SIGTERM/SIGINT stop the daemon cleanly (exit 0).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  // `fuzz` has its own flags, so it is dispatched before the daemon's strict flag parsing.
  if (argv[0] === 'attack') {
    const { runAttackCommand } = await import('./attack.js');
    process.exit(await runAttackCommand(argv.slice(1)));
  }
  if (argv[0] === 'fuzz') {
    const { runFuzzCommand } = await import('./fuzz.js');
    process.exit(await runFuzzCommand(argv.slice(1)));
  }
  const { values, positionals } = parseArgs({
    args: withInspectPort(argv),
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      master: { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      inspect: { type: 'boolean' },
      'inspect-port': { type: 'string' },
      'inspect-sessions': { type: 'string' },
      'inspect-id': { type: 'string' },
      http: { type: 'string' },
      workers: { type: 'string' },
      format: { type: 'string' },
      ca: { type: 'string' },
      servername: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      browser: { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`voltlane ${version()}\n`);
    return;
  }
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'pretty' && logFormat !== 'json') {
    throw new UsageError(`--log-format must be pretty or json, not ${JSON.stringify(logFormat)}`);
  }
  const [command, ...rest] = positionals;
  switch (command) {
    case undefined:
    case 'run': {
      const { runEdge } = await import('./workers.js');
      await runEdge({
        ...(values.config ? { configPath: values.config } : {}),
        ...(values.listen ? { listen: values.listen } : {}),
        ...(values.master ? { master: values.master } : {}),
        ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
        ...(logFormat ? { logFormat } : {}),
        ...observeFlags(values),
      }, workersFlag(values.workers));
      return;
    }
    case 'init': {
      if (rest.length > 0) throw new UsageError(`voltlane init takes no arguments (the file is --config FILE), not ${JSON.stringify(rest[0])}`);
      const { runInit } = await import('./init.js');
      for (const line of runInit(values.config, values.force ?? false)) process.stdout.write(`voltlane: ${line}\n`);
      return;
    }
    case 'machines': {
      const { runMachines } = await import('./machines.js');
      try {
        runMachines(rest, values.format);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      return;
    }
    case 'echo-master': {
      const { runEchoMaster } = await import('./echo-master.js');
      await runEchoMaster(values.listen ?? '127.0.0.1:42001');
      return;
    }
    case 'client': {
      const addr = rest[0];
      if (!addr) throw new UsageError('voltlane client needs an address, e.g. voltlane client 127.0.0.1:42000');
      const { runClient } = await import('./client.js');
      const pem = (flag: string, path: string | undefined): string | undefined => {
        if (path === undefined) return undefined;
        try {
          return readFileSync(path, 'utf8');
        } catch (err) {
          throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
        }
      };
      const ca = pem('--ca', values.ca);
      const cert = pem('--cert', values.cert);
      const key = pem('--key', values.key);
      await runClient(addr, {
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(values.servername !== undefined ? { servername: values.servername } : {}),
      });
      return;
    }
    case 'demo': {
      if (values.browser) {
        const { runBrowserDemo } = await import('./demo-browser.js');
        await runBrowserDemo(rest[0]);
        return;
      }
      const { runDemo } = await import('./demo.js');
      await runDemo();
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (see voltlane --help)`);
  }
}

class UsageError extends Error {}

/** parseArgs has no optional values: `--inspect 9000` becomes `--inspect --inspect-port 9000`. */
function withInspectPort(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--inspect=')) out.push('--inspect', `--inspect-port=${a.slice('--inspect='.length)}`);
    else if (a === '--inspect' && /^[0-9]+$/.test(argv[i + 1] ?? '')) out.push('--inspect', `--inspect-port=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

function intFlag(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

/** --workers N|auto, checked. */
function workersFlag(raw: string | undefined): number | 'auto' | undefined {
  if (raw === undefined) return undefined;
  if (raw.trim().toLowerCase() === 'auto') return 'auto';
  return intFlag('workers', raw, 1, 1024);
}

/** The observability flags, checked, for runDaemon. */
function observeFlags(v: { inspect?: boolean; 'inspect-port'?: string; 'inspect-sessions'?: string; 'inspect-id'?: string; http?: string }) {
  const port = intFlag('inspect', v['inspect-port'], 1, 65535);
  const sessions = intFlag('inspect-sessions', v['inspect-sessions'], 0, 1_000_000);
  const id = intFlag('inspect-id', v['inspect-id'], 1, Number.MAX_SAFE_INTEGER);
  return {
    ...(v.inspect || port !== undefined ? { inspect: port ?? (true as const) } : {}),
    ...(sessions !== undefined ? { inspectSessions: sessions } : {}),
    ...(id !== undefined ? { inspectId: id } : {}),
    ...(v.http !== undefined ? { http: v.http } : {}),
  };
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`voltlane: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // Errors with a code (ours, or the system's such as EADDRINUSE) are expected failures: their message says it all.
  const coded = err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
  process.stderr.write(`voltlane: ${err instanceof Error ? (coded ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
  process.exit(1);
});
