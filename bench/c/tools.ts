// The C bench tools (vlload, vlmaster, vlecho, run.sh) from ../shared/bench, built in a private copy so the
// shared folder is never written to, with the libraries scenario f needs installed or named.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The files of the bench folder that the build and run.sh need. */
const SOURCE = /^(Makefile|run\.sh|.*\.[ch])$/;

export const APT_LINE = 'apt-get install -y libsodium-dev libssl-dev';

/** True when <sodium.h> and <openssl/evp.h> compile and link (the Makefile's own test). */
export function cryptoLibsPresent(): boolean {
  const prog = '#include <sodium.h>\n#include <openssl/evp.h>\nint main(void){return sodium_init() + (EVP_sha256() == 0);}\n';
  const r = spawnSync('cc', ['-x', 'c', '-', '-o', '/dev/null', '-lsodium', '-lcrypto'], { input: prog, stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

/**
 * Makes libsodium-dev and libssl-dev present for scenario f: installs them with apt-get when running as root
 * (after `apt-get update` if the first try fails), else throws with the command to run.
 */
export function ensureCryptoLibs(log: (line: string) => void): void {
  if (cryptoLibsPresent()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`scenario f needs libsodium-dev and libssl-dev: run \`sudo ${APT_LINE}\` (or leave f out: --scenarios a,b,c,d,e)`);
  }
  log(`bench:c: scenario f needs libsodium-dev and libssl-dev; running: ${APT_LINE}`);
  const install = () => spawnSync('apt-get', ['install', '-y', 'libsodium-dev', 'libssl-dev'], { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (!install()) throw new Error(`\`${APT_LINE}\` failed`);
  }
  if (!cryptoLibsPresent()) throw new Error(`libsodium-dev and libssl-dev installed, yet <sodium.h> + <openssl/evp.h> do not build`);
}

/**
 * Copies the bench sources from `benchDir` into `binDir` (only files that changed) and builds them there with
 * the bench's own Makefile. run.sh runs from that copy: it builds beside itself, so the shared folder stays
 * untouched even for root (for whom a read-only mode bit does not stop a write). Returns run.sh's path.
 */
export function buildTools(benchDir: string, binDir: string, withCrypto: boolean): string {
  if (!existsSync(join(benchDir, 'run.sh')) || !existsSync(join(benchDir, 'vlload.c'))) {
    throw new Error(`no C bench in ${benchDir} (run.sh, vlload.c); set --bench-dir or VL_BENCH_DIR`);
  }
  mkdirSync(binDir, { recursive: true });
  for (const f of readdirSync(benchDir)) {
    if (!SOURCE.test(f)) continue;
    const from = join(benchDir, f);
    const to = join(binDir, f);
    if (existsSync(to) && statSync(to).size === statSync(from).size && readFileSync(to).equals(readFileSync(from))) continue;
    if (existsSync(to)) chmodSync(to, 0o644);
    copyFileSync(from, to);
    chmodSync(to, f.endsWith('.sh') ? 0o755 : 0o644);
  }
  execFileSync('make', ['-s', '-C', binDir, `CRYPTO=${withCrypto ? 1 : 0}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  return join(binDir, 'run.sh');
}
