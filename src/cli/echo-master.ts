// `voltlane echo-master`: a demo backend that echoes every Data packet back to its client.
import { createEchoHandler, listen } from '../sdk/master.js';

export async function runEchoMaster(address: string): Promise<void> {
  const server = await listen(address);
  createEchoHandler(server);
  const a = server.address;
  const out = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  out(`echo-master listening on ${a.host}:${a.port}; point the edge's master.address here`);
  server.on('edge', (e) => out(`edge connected from ${e.remoteAddress}`));
  server.on('edgeClosed', (e) => out(`edge ${e.remoteAddress} disconnected`));
  server.on('failure', (id, reason) => out(`client ${id} failed: ${reason}`));
  server.on('reconnection', (id) => out(`client ${id} reconnected`));
  server.on('error', (err) => out(`protocol error: ${err.message}`));
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
