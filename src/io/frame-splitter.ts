// Splits a stream of u32-LE length-prefixed frames back into payloads, for transports whose own messages
// delimit frames (WebSocket: one protocol frame per binary message, no prefix).
import { FRAME_HEADER_SIZE } from './framing.js';

const EMPTY = new Uint8Array(0);

/**
 * Feed it the framed bytes a FrameWriter produces, in any chunking; it calls `onFrame` once per whole
 * frame, in order. A payload that lies inside one chunk is passed as a view (no copy); one split across
 * chunks is gathered once. The bytes come from our own writer, so lengths are trusted (no cap here).
 */
export class FrameSplitter {
  readonly #onFrame: (payload: Uint8Array) => void;
  /** Header bytes of the frame in progress (a header split across chunks). */
  readonly #head = new Uint8Array(FRAME_HEADER_SIZE);
  #headLen = 0;
  /** Payload of the frame in progress: total length, pieces so far and their byte count. */
  #bodyLen = -1;
  #pieces: Uint8Array[] = [];
  #have = 0;

  constructor(onFrame: (payload: Uint8Array) => void) {
    this.#onFrame = onFrame;
  }

  /** True between frames: nothing of a frame is held. */
  get idle(): boolean {
    return this.#headLen === 0 && this.#bodyLen < 0;
  }

  push(chunk: Uint8Array): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.#bodyLen < 0) {
        if (this.#headLen === 0 && n - off >= FRAME_HEADER_SIZE) {
          this.#bodyLen = (chunk[off]! | (chunk[off + 1]! << 8) | (chunk[off + 2]! << 16)) + chunk[off + 3]! * 0x100_0000;
          off += FRAME_HEADER_SIZE;
        } else {
          const take = Math.min(FRAME_HEADER_SIZE - this.#headLen, n - off);
          this.#head.set(chunk.subarray(off, off + take), this.#headLen);
          this.#headLen += take;
          off += take;
          if (this.#headLen < FRAME_HEADER_SIZE) return;
          const h = this.#head;
          this.#bodyLen = (h[0]! | (h[1]! << 8) | (h[2]! << 16)) + h[3]! * 0x100_0000;
          this.#headLen = 0;
        }
        if (this.#bodyLen === 0) {
          this.#bodyLen = -1;
          this.#onFrame(EMPTY);
          continue;
        }
      }
      const need = this.#bodyLen - this.#have;
      const take = Math.min(need, n - off);
      const piece = chunk.subarray(off, off + take);
      off += take;
      if (take === need && this.#have === 0) {
        this.#bodyLen = -1;
        this.#onFrame(piece);
        continue;
      }
      this.#pieces.push(piece);
      this.#have += take;
      if (this.#have === this.#bodyLen) {
        const out = new Uint8Array(this.#bodyLen);
        let at = 0;
        for (const p of this.#pieces) {
          out.set(p, at);
          at += p.length;
        }
        this.#pieces = [];
        this.#have = 0;
        this.#bodyLen = -1;
        this.#onFrame(out);
      }
    }
  }

  /** Forgets a partial frame. */
  reset(): void {
    this.#headLen = 0;
    this.#bodyLen = -1;
    this.#pieces = [];
    this.#have = 0;
  }
}
