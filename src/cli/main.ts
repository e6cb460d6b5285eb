#!/usr/bin/env node
// The `voltlane` command: parse argv, dispatch to run / echo-master / client / demo. Nothing else.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/index.js';

const HELP = `voltlane: edge connection server (many clients -> one tagged firehose to your backend)

Usage:
  voltlane [--config FILE] [--listen ADDR] [--master ADDR] [--log-level LEVEL] [--log-format pretty|json]
      Run the edge daemon. FILE defaults to ./connserver.toml, written with commented
      defaults on first start. The edge key is kept in voltlane.key beside it.
      Precedence: flags > environment (VOLTLANE_<SECTION>_<KEY>) > .env > file > defaults.
  voltlane echo-master [--listen ADDR]
      A demo backend: listens for the edge (default 127.0.0.1:42001) and echoes every Data packet.
  voltlane client ADDR
      An interactive client: stdin lines go out, replies are printed; survives drops by resuming.
  voltlane demo
      Starts an edge, an echo master and a few clients in one process and shows traffic,
      a dropped client resuming, and its replayed packets.
  voltlane --help | --version

Addresses: host:port, [::1]:port or ::1:port. SIGTERM/SIGINT stop the daemon cleanly (exit 0).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string' },
      master: { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
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
      const { runDaemon } = await import('./run.js');
      await runDaemon({
        ...(values.config ? { configPath: values.config } : {}),
        ...(values.listen ? { listen: values.listen } : {}),
        ...(values.master ? { master: values.master } : {}),
        ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
        ...(logFormat ? { logFormat } : {}),
      });
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
      await runClient(addr);
      return;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      await runDemo();
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (see voltlane --help)`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`voltlane: ${(err as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`voltlane: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
