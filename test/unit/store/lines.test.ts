// The journal's hot records (created, stale, resumed) are built as JSON text by hand: they must be exactly the
// lines encodeLine writes for the same record, for any id, time and address (quotes, backslashes, IPv6, none).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, JOURNAL_FILE } from '../../../src/store/file-store.js';
import { encodeLine, toHex } from '../../../src/store/lines.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('journal records built by hand', () => {
  it('are the lines encodeLine writes for the same records', async () => {
    const cases = await fc.sample(
      fc.record({
        id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        at: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        ad: fc.option(fc.oneof(fc.constantFrom('127.0.0.1', '::1', 'restored', 'a"b\\c\u0001'), fc.string({ maxLength: 64 })), { nil: undefined }),
        key: fc.uint8Array({ minLength: 33, maxLength: 33 }),
      }),
      { numRuns: 200, seed: 13 },
    );
    const dir = mkdtempSync(join(tmpdir(), 'voltlane-lines-'));
    const store = new FileStore({ dir, edgePublicKey: '02'.padEnd(66, 'a'), syncIntervalMs: 0, events: { onError: (m) => { throw new Error(m); } } });
    await store.load();
    const want: string[] = [];
    for (const c of cases) {
      store.created(c.id, c.key, c.at, c.ad);
      store.stale(c.id, c.at, c.ad);
      store.resumed(c.id, c.ad);
      want.push(encodeLine({ t: 'c', id: c.id, k: toHex(c.key), at: c.at, ad: c.ad }));
      want.push(encodeLine({ t: 'st', id: c.id, at: c.at, ad: c.ad }));
      want.push(encodeLine({ t: 'rs', id: c.id, ad: c.ad }));
    }
    await turn();
    await store.close();
    const lines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').split('\n').slice(1, -1).map((l) => `${l}\n`);
    expect(lines).toEqual(want);
  });
});
