// A self-signed serving certificate for the aggregated API (the APIService says insecureSkipTLSVerify),
// made once per state dir with the openssl that hack/setup.sh installs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM key and certificate for 127.0.0.1/localhost. */
export function servingCert(stateDir: string): { key: Buffer; cert: Buffer } {
  const dir = join(stateDir, 'tls');
  const key = join(dir, 'serving.key');
  const cert = join(dir, 'serving.crt');
  if (!existsSync(cert)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-days', '365', '-subj', '/CN=tresor-node-agent', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
  }
  return { key: readFileSync(key), cert: readFileSync(cert) };
}
