// The stale table: every stale session, grouped by client address (an IPv4 address; an IPv6 /64 counts as one),
// with O(1) add, remove and choice of whom to evict: the oldest session of the address holding the most.
// Everything is linked in place (no Map or Set is ever emptied from its front, which costs a scan over the
// deleted entries in V8), so eviction under a flood stays O(1) at any table size.

/** The links a stale session carries (all null while it is not in the table). */
export interface StaleLinks<T> {
  readonly id: number;
  /** The client address it went stale from. */
  address: string;
  staleHolder: Holder<T> | null;
  stalePrev: T | null;
  staleNext: T | null;
}

/** One address (or /64) and its stale sessions, oldest first; also linked into the list of holders of its count. */
export interface Holder<T> {
  readonly key: string;
  count: number;
  head: T | null;
  tail: T | null;
  prev: Holder<T> | null;
  next: Holder<T> | null;
}

/**
 * The key an address is counted under: an IPv4 address as it is (also when written IPv4-mapped, ::ffff:a.b.c.d),
 * an IPv6 address as its /64 ("2001:db8:0:1::/64"); anything else as given.
 */
export function addressGroup(address: string): string {
  if (!address.includes(':')) return address;
  // The common dual-stack form of an IPv4 client, without parsing.
  if (address.startsWith('::ffff:') && address.indexOf(':', 7) < 0 && address.includes('.')) return address.slice(7);
  const zone = address.indexOf('%');
  const h = expandIPv6((zone >= 0 ? address.slice(0, zone) : address).toLowerCase());
  if (h === null) return address;
  if (h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff) {
    return `${h[6]! >> 8}.${h[6]! & 255}.${h[7]! >> 8}.${h[7]! & 255}`;
  }
  return `${h.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (an IPv4 tail included), or null when it is not one. */
function expandIPv6(a: string): number[] | null {
  const parts = a.split('::');
  if (parts.length > 2) return null;
  const side = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const groups = s.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes('.')) {
        const q = g.split('.').map(Number);
        if (q.length !== 4 || q.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return null;
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else {
        if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const left = side(parts[0]!);
  const right = parts.length === 2 ? side(parts[1]!) : [];
  if (left === null || right === null) return null;
  if (parts.length === 1) return left.length === 8 ? left : null;
  const fill = 8 - left.length - right.length;
  if (fill < 1) return null;
  return [...left, ...new Array<number>(fill).fill(0), ...right];
}

/** The per-address cap from `limits.max_stale_share_per_address`: below 1 a share of the table, else a count. */
export function staleShareCap(share: number, maxStaleClients: number): number {
  return share < 1 ? Math.max(1, Math.floor(share * maxStaleClients)) : share;
}

/**
 * Stale sessions by id and by address group. `add`, `delete`, `oldestOf` and `biggestHolderOldest` are O(1):
 * holders sit in one list per count (a bucket), and the highest non-empty count is tracked as counts move by one.
 */
export class StaleTable<T extends StaleLinks<T>> {
  readonly #byId = new Map<number, T>();
  readonly #holders = new Map<string, Holder<T>>();
  /** Holders by count: heads[c] is the first holder with c sessions (the one that reached c first). */
  readonly #heads: Array<Holder<T> | null> = [null];
  readonly #tails: Array<Holder<T> | null> = [null];
  #max = 0;

  get size(): number {
    return this.#byId.size;
  }

  get(id: number): T | undefined {
    return this.#byId.get(id);
  }

  has(s: T): boolean {
    return s.staleHolder !== null;
  }

  /** Sessions held for the group of `address`. */
  countOf(address: string): number {
    return this.#holders.get(addressGroup(address))?.count ?? 0;
  }

  /** Distinct address groups holding stale sessions. */
  get holders(): number {
    return this.#holders.size;
  }

  /** The most sessions one group holds. */
  get biggestCount(): number {
    return this.#max;
  }

  /** Adds `s` (newest of its group); its group is that of `s.address` now. Returns the group's new count. */
  add(s: T): number {
    if (s.staleHolder !== null) this.delete(s);
    const key = addressGroup(s.address);
    let h = this.#holders.get(key);
    if (h === undefined) {
      h = { key, count: 0, head: null, tail: null, prev: null, next: null };
      this.#holders.set(key, h);
    } else {
      this.#unlinkHolder(h);
    }
    s.staleHolder = h;
    s.stalePrev = h.tail;
    s.staleNext = null;
    if (h.tail !== null) h.tail.staleNext = s;
    else h.head = s;
    h.tail = s;
    h.count++;
    this.#linkHolder(h);
    this.#byId.set(s.id, s);
    return h.count;
  }

  /** Removes `s`; false when it was not in the table. */
  delete(s: T): boolean {
    const h = s.staleHolder;
    if (h === null) return false;
    this.#unlinkHolder(h);
    if (s.stalePrev !== null) s.stalePrev.staleNext = s.staleNext;
    else h.head = s.staleNext;
    if (s.staleNext !== null) s.staleNext.stalePrev = s.stalePrev;
    else h.tail = s.stalePrev;
    s.staleHolder = s.stalePrev = s.staleNext = null;
    h.count--;
    if (h.count > 0) this.#linkHolder(h);
    else this.#holders.delete(h.key);
    // Counts move by one: when the top bucket empties, the one below holds the holder just moved (or c was 1).
    if (this.#heads[this.#max] === null) this.#max--;
    this.#byId.delete(s.id);
    return true;
  }

  /** The oldest stale session of the group `s` is in (null when `s` is not in the table). */
  oldestOf(s: T): T | null {
    return s.staleHolder?.head ?? null;
  }

  /** The eviction victim when the table is full: the oldest session of the group holding the most. */
  biggestHolderOldest(): T | null {
    return this.#heads[this.#max]?.head ?? null;
  }

  /** Every stale session (no order promised). */
  values(): IterableIterator<T> {
    return this.#byId.values();
  }

  #linkHolder(h: Holder<T>): void {
    const c = h.count;
    while (this.#heads.length <= c) {
      this.#heads.push(null);
      this.#tails.push(null);
    }
    const tail = this.#tails[c]!;
    h.prev = tail;
    h.next = null;
    if (tail !== null) tail.next = h;
    else this.#heads[c] = h;
    this.#tails[c] = h;
    if (c > this.#max) this.#max = c;
  }

  #unlinkHolder(h: Holder<T>): void {
    const c = h.count;
    if (h.prev !== null) h.prev.next = h.next;
    else if (this.#heads[c] === h) this.#heads[c] = h.next;
    if (h.next !== null) h.next.prev = h.prev;
    else if (this.#tails[c] === h) this.#tails[c] = h.prev;
    h.prev = h.next = null;
  }
}
