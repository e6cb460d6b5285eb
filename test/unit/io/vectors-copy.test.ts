// Guards the repo's copy of the test vectors against drift from the shared contract (../shared/vectors.json).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VECTORS_PATH } from '../../vectors/vectors.js';

/** The repo root is three levels above this file (test/unit/io). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHARED = resolve(REPO_ROOT, '..', 'shared', 'vectors.json');
const present = existsSync(SHARED);

if (!present) {
  console.warn(`note: ${SHARED} not found; the vectors copy check is skipped`);
}

describe('test/vectors/vectors.json', () => {
  it.skipIf(!present)(`is byte-identical to ../shared/vectors.json (skipped when that file is absent)`, () => {
    const shared = readFileSync(SHARED);
    const local = readFileSync(VECTORS_PATH);
    expect(
      local.equals(shared),
      `test/vectors/vectors.json differs from ${SHARED}; copy it over: cp ${SHARED} ${VECTORS_PATH}`,
    ).toBe(true);
  });
});
