// `voltlane client ADDR`: an interactive client; stdin lines go out, replies are printed, drops are resumed.
import { createInterface } from 'node:readline';
import { connect, type TlsClientOptions } from '../sdk/client.js';

/** `address`: host:port, tls://, ws:// or wss://; `tls`: certificates for tls:// and wss://. */
export async function runClient(address: string, tls: TlsClientOptions = {}): Promise<void> {
  const out = (line: string) => process.stderr.write(`[voltlane] ${line}\n`);
  const client = await connect(address, tls);
  out(`session ${client.id} on ${address}; edge key ${Buffer.from(client.edgePublicKey).toString('hex')}`);
  client.on('message', (data) => process.stdout.write(`${Buffer.from(data).toString('utf8')}\n`));
  client.on('disconnected', (reason) => out(`disconnected (${reason}); resuming...`));
  client.on('resumed', (id) => out(`resumed session ${id}`));
  client.on('sessionLost', (id) => out(`session ${id} is lost: the edge no longer knows it`));
  client.on('failed', (err) => {
    out(`session failed: ${err.message}`);
    process.exit(1);
  });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    try {
      client.send(line);
    } catch (err) {
      out(`not sent: ${(err as Error).message}`);
    }
  });
  rl.on('close', () => {
    void client.close().then(() => process.exit(0));
  });
}
