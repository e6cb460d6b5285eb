// What a plain single-process daemon loads: the optional subsystems (WebSocket server, Prometheus client, Redis client,
// WebAssembly curve, inspector relay) are loaded only when turned on, so an edge that does not use them does
// not pay their memory (idle daemon RSS 90.9 MB with them, 67.4 MB without).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Packages under node_modules loaded by importing `modules` in a fresh process (CommonJS ones show in require.cache). */
function packagesLoadedBy(modules: string[]): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    for (const m of ${JSON.stringify(modules)}) await import(m);
    const names = new Set(Object.keys(require.cache).map((k) => (k.match(/node_modules\\/((@[^/]+\\/)?[^/]+)/) || [])[1]).filter(Boolean));
    console.log(JSON.stringify([...names]));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('daemon footprint', () => {
  it('the daemon modules load no WebSocket server, Prometheus client, WebAssembly curve, inspector relay or Redis client', () => {
    const loaded = packagesLoadedBy([`${root}dist/cli/run.js`, `${root}dist/actors/edge.js`]);
    expect(loaded).toContain('xstate'); // the check sees CommonJS packages at all
    for (const optional of ['ws', 'prom-client', 'tiny-secp256k1', '@statelyai/inspect', 'ioredis']) expect(loaded).not.toContain(optional);
  });

  it('the WebAssembly curve still loads when asked for', () => {
    const script = `const { wasmCurve } = await import(${JSON.stringify(`${root}dist/io/secp256k1.js`)});
      const g = Uint8Array.from(Buffer.from('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex'));
      console.log(Buffer.from(wasmCurve.compressPoint(g)).toString('hex'));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }).trim();
    expect(out).toBe('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');
  });
});
