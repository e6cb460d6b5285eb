// Certificates made by the tests themselves with the openssl command-line tool: a CA, server certificates for
// 127.0.0.1/localhost signed by it, and client certificates. Nothing leaves the machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestCa {
  readonly dir: string;
  readonly ca: Pem;
  #n = 0;

  constructor(name = 'Voltlane Test CA') {
    this.dir = mkdtempSync(join(tmpdir(), 'voltlane-certs-'));
    const certFile = join(this.dir, 'ca.pem');
    const keyFile = join(this.dir, 'ca.key');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`], this.dir);
    this.ca = { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  /** A certificate signed by this CA: for a server (SAN 127.0.0.1, ::1, localhost) or a client. */
  issue(cn: string, kind: 'server' | 'client' = 'server'): Pem {
    const base = join(this.dir, `${kind}-${++this.#n}`);
    const keyFile = `${base}.key`;
    const csr = `${base}.csr`;
    const certFile = `${base}.pem`;
    const ext = `${base}.ext`;
    writeFileSync(
      ext,
      kind === 'server'
        ? 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        : 'extendedKeyUsage=clientAuth\n',
    );
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`], this.dir);
    openssl(['x509', '-req', '-in', csr, '-CA', this.ca.certFile, '-CAkey', this.ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext], this.dir);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A self-signed server certificate for 127.0.0.1 and localhost, in `dir`. */
export function selfSigned(dir: string, cn = 'localhost'): Pem {
  const keyFile = join(dir, 'self.key');
  const certFile = join(dir, 'self.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], dir);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
