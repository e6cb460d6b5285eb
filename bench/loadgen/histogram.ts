// Log-linear latency histogram in microseconds: exact below 2,048 us, then 1,024 buckets per power of two
// (under 0.1% error), up to 2^31 us. Small enough to post between threads and merge.

const EXACT = 2048;
const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 30;
export const HISTOGRAM_BUCKETS = EXACT + (MAX_EXP - 10) * SUB;

function indexOf(us: number): number {
  const v = us < 0 ? 0 : us > 0x7fff_ffff ? 0x7fff_ffff : Math.round(us);
  if (v < EXACT) return v;
  const e = 31 - Math.clz32(v);
  const sub = (v >>> (e - SUB_BITS)) & (SUB - 1);
  return EXACT + (e - 11) * SUB + sub;
}

/** The lowest value (us) that falls in bucket `i`. */
function valueOf(i: number): number {
  if (i < EXACT) return i;
  const k = i - EXACT;
  const e = 11 + Math.floor(k / SUB);
  const sub = k % SUB;
  return (SUB + sub) * 2 ** (e - SUB_BITS);
}

export class Histogram {
  readonly counts: Uint32Array;
  total = 0;

  constructor(counts?: Uint32Array) {
    this.counts = counts ?? new Uint32Array(HISTOGRAM_BUCKETS);
    if (counts) for (let i = 0; i < counts.length; i++) this.total += counts[i]!;
  }

  record(us: number): void {
    this.counts[indexOf(us)]!++;
    this.total++;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }

  merge(other: Histogram): void {
    const a = this.counts;
    const b = other.counts;
    for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
    this.total += other.total;
  }

  /** The value (us) at quantile q in [0, 1]; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return valueOf(i);
    }
    return valueOf(this.counts.length - 1);
  }
}
