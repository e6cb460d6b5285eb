// Builds the browser edition of voltlane/client: one self-contained ES module (dist/browser/voltlane-client.js)
// that a bundler or a plain <script type="module"> loads. Node built-ins are swapped for small browser
// modules (src/sdk/browser/), the transport for the browser's WebSocket, and the curve work for @noble alone;
// any other Node built-in reaching the bundle fails the build.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = (p) => join(root, 'src', p);

const NODE_SHIMS = {
  'node:events': src('sdk/browser/events.ts'),
  'node:net': src('sdk/browser/net.ts'),
};

const browserSwaps = {
  name: 'voltlane-browser',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_]+$/ }, (args) => {
      const name = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      if (NODE_SHIMS[name]) return { path: NODE_SHIMS[name] };
      if (!args.path.startsWith('node:')) return undefined;
      return { errors: [{ text: `${args.path} is a Node built-in and cannot go into the browser build (imported by ${args.importer})` }] };
    });
    b.onResolve({ filter: /\/io\/crypto\.js$/ }, () => ({ path: src('io/crypto-noble.ts') }));
    b.onResolve({ filter: /^\.\/client-dial\.js$/ }, () => ({ path: src('sdk/browser/client-dial.ts') }));
  },
};

/** Builds the bundle; `write: false` returns its text instead of writing dist/browser/. */
export async function buildBrowserClient({ write = true, minify = true } = {}) {
  const result = await build({
    entryPoints: [src('sdk/client.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: write ? 'linked' : false,
    legalComments: 'eof',
    inject: [src('sdk/browser/immediate.ts')],
    plugins: [browserSwaps],
    outfile: join(root, 'dist', 'browser', 'voltlane-client.js'),
    write,
    logLevel: 'warning',
  });
  if (write) return null;
  return result.outputFiles.find((f) => f.path.endsWith('.js')).text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildBrowserClient();
}
