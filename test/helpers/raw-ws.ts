// A WebSocket client by hand, for fuzzing the edge's WebSocket listener: it writes any frame (masked or not,
// fragmented, control frames, reserved bits, bad opcodes) and parses what the edge sends back.
import { once } from 'node:events';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface WsFrame {
  fin?: boolean;
  /** Reserved bits, 0..7 (RSV1..RSV3). */
  rsv?: number;
  opcode: number;
  payload: Uint8Array;
  /** Client frames must be masked; false sends an unmasked one. */
  mask?: boolean;
}

export const Op = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Encodes one frame as a client sends it. */
export function encodeWsFrame(f: WsFrame): Uint8Array {
  const n = f.payload.length;
  const masked = f.mask ?? true;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + lenBytes + (masked ? 4 : 0) + n);
  out[0] = ((f.fin ?? true) ? 0x80 : 0) | (((f.rsv ?? 0) & 7) << 4) | (f.opcode & 0x0f);
  out[1] = (masked ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  let at = 2;
  if (lenBytes === 2) {
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else if (lenBytes === 8) {
    new DataView(out.buffer).setBigUint64(2, BigInt(n));
  }
  at += lenBytes;
  if (masked) {
    const key = randomBytes(4);
    out.set(key, at);
    at += 4;
    for (let i = 0; i < n; i++) out[at + i] = f.payload[i]! ^ key[i & 3]!;
  } else {
    out.set(f.payload, at);
  }
  return out;
}

/** A raw WebSocket connection after a successful upgrade. */
export class RawWs {
  readonly socket: net.Socket;
  readonly messages: Uint8Array[] = [];
  readonly pongs: Uint8Array[] = [];
  /** The close code the edge sent (1005 for a close frame without one), or null. */
  closeCode: number | null = null;
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);

  constructor(socket: net.Socket, leftover: Buffer) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (c: Buffer) => this.#push(c));
    if (leftover.length) this.#push(leftover);
  }

  static async open(port: number, path = '/'): Promise<RawWs> {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    s.on('error', () => {});
    await once(s, 'connect');
    const key = randomBytes(16).toString('base64');
    s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let head = Buffer.alloc(0);
    for (;;) {
      const [chunk] = (await once(s, 'data')) as [Buffer];
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) continue;
      const status = head.subarray(0, head.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.1 101 /.test(status)) throw new Error(`upgrade refused: ${status}`);
      s.pause();
      const ws = new RawWs(s, head.subarray(end + 4));
      s.resume();
      return ws;
    }
  }

  send(...frames: WsFrame[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(frames.map(encodeWsFrame)));
  }

  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  #push(c: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, c]);
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let n = b[1]! & 0x7f;
      let at = 2;
      if (n === 126) {
        if (b.length < 4) return;
        n = b.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (b.length < 10) return;
        n = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + n) return;
      const payload = b.subarray(at, at + n);
      this.#buf = b.subarray(at + n);
      if (opcode === Op.binary) this.messages.push(Uint8Array.from(payload));
      else if (opcode === Op.pong) this.pongs.push(Uint8Array.from(payload));
      else if (opcode === Op.close) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
