// The bare Node servers of `npm run bench:floor` and of bench:c's floor rows: what Node's `net` alone costs
// where the edge is measured. Plain JavaScript, so that tests and the compiled bench start the same file.
//   node floor-server.mjs echo PORT     every chunk a client sends is written back (c's work for one hop, no framing)
//   node floor-server.mjs resume PORT   each u32-LE-framed message is answered by a reply of the size the edge sends
//                                       for that step of scenario f (floor-load.c has the table), nothing else kept
// Both listen as the edge does (noDelay and keep-alive set by Node on the accepted handle, backlog 4096) and
// print "LISTENING" on stdout once bound.
import net from 'node:net';

const [mode, portText] = process.argv.slice(2);
const port = Number(portText);
if ((mode !== 'echo' && mode !== 'resume') || !Number.isInteger(port)) {
  process.stderr.write('usage: floor-server.mjs echo|resume PORT\n');
  process.exit(2);
}

/** Reply sizes by message type (resume mode); index 0 unused. */
const REPLY = [0, 39, 9, 78, 215, 32].map((n) => Buffer.alloc(n));

/** @param {net.Socket} sock */
function echo(sock) {
  sock.on('data', (d) => sock.write(d));
}

/** @param {net.Socket} sock */
function resume(sock) {
  /** @type {Buffer | null} */
  let pending = null;
  sock.on('data', (d) => {
    let buf = pending ? Buffer.concat([pending, d]) : d;
    pending = null;
    while (buf.length >= 4) {
      const len = buf.readUInt32LE(0);
      if (buf.length < 4 + len) break;
      const reply = len === 0 ? undefined : REPLY[buf[4]];
      if (reply === undefined || reply.length === 0) {
        sock.destroy();
        return;
      }
      sock.write(reply);
      buf = buf.subarray(4 + len);
    }
    if (buf.length > 0) pending = buf;
  });
}

const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 }, (sock) => {
  sock.on('error', () => {});
  if (mode === 'echo') echo(sock);
  else resume(sock);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => process.stdout.write('LISTENING\n'));
process.on('SIGTERM', () => process.exit(0));
