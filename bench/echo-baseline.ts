// Child process: the no-edge baseline. A plain u32-LE length-prefixed echo server: each frame read is
// written back to the same socket, batched per event-loop turn, with nothing in between.
import net from 'node:net';
import { FrameDecoder } from '../src/io/framing.js';
import { FrameWriter } from '../src/io/writer.js';
import type { ChildToBench } from './ipc.js';

function serve(sock: net.Socket): void {
  sock.setNoDelay(true);
  const decoder = new FrameDecoder();
  const writer = new FrameWriter(sock);
  sock.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (;;) {
      const f = decoder.next();
      if (f === null) break;
      if (f instanceof Error) {
        sock.destroy();
        return;
      }
      writer.writeFrame(f);
    }
  });
  sock.on('error', () => sock.destroy());
}

function main(): void {
  if (!process.send) throw new Error('bench/echo-baseline must run as a forked child with an IPC channel');
  const server = net.createServer(serve);
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    const { port } = server.address() as net.AddressInfo;
    const ready: ChildToBench = { type: 'ready', port };
    process.send!(ready);
  });
  process.on('SIGTERM', () => {
    server.close();
    process.exit(0);
  });
}

main();
