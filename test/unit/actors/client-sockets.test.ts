// endGracefully through real sockets: the edge's FIN after the queued data, and the 1 s close timer that destroys a
// socket whose peer does not close (it has not sent FIN, or it sent FIN but reads nothing of what is queued).
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { endGracefully } from '../../../src/actors/client-sockets.js';

const open: net.Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A server whose accepted socket is handed over, and a client connected to it (`halfOpen`: it does not answer FIN). */
async function pair(halfOpen = false): Promise<{ server: net.Socket; client: net.Socket }> {
  const srv = net.createServer();
  open.push(srv);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: halfOpen });
  client.on('error', () => {});
  const [server] = await accepted;
  server.on('error', () => {});
  server.resume(); // flowing, as the edge's sockets are: 'end' is emitted when the peer's FIN is read
  return { server, client };
}

describe('endGracefully', () => {
  it('a peer that has not closed: FIN sent, and the socket destroyed after the grace period', async () => {
    const { server, client } = await pair(true);
    const listeners = server.listenerCount('close');
    const t0 = Date.now();
    endGracefully(server);
    expect(server.listenerCount('close')).toBe(listeners + 1);
    await once(client, 'end'); // the edge's FIN; the client keeps its side open
    await once(server, 'close');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    client.destroy();
  });

  it('a peer that sent FIN but reads nothing of what is queued: destroyed after the grace period', async () => {
    const { server, client } = await pair();
    client.pause(); // reads nothing: the server's writes back up
    const big = Buffer.alloc(1 << 20);
    while (server.write(big)) {
      /* fill the socket buffers until write() reports backpressure */
    }
    client.end();
    await once(server, 'end');
    expect(server.writableLength).toBeGreaterThan(0);
    const listeners = server.listenerCount('close');
    endGracefully(server);
    expect(server.listenerCount('close')).toBe(listeners + 1);
    await once(server, 'close'); // destroyed by the timer: the client never reads
    client.destroy();
  });
});
