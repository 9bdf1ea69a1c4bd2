// Serves release artifacts over HTTP from a folder, and can be told to fail: each request answers 503
// with the given probability (drawn from the caller's seeded random source, so trials repeat).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ArtifactServer {
  url: string;
  /** 0 answers every request; 0.5 fails about half of them. */
  failWith(probability: number, random: () => number): void;
  stats: { served: number; failed: number };
  close(): Promise<void>;
}

export async function startArtifactServer(dir: string): Promise<ArtifactServer> {
  let probability = 0;
  let random = () => 1;
  const stats = { served: 0, failed: 0 };
  const server = http.createServer((req, res) => {
    if (random() < probability) {
      stats.failed++;
      res.writeHead(503, { 'retry-after': '1' }).end('busy');
      return;
    }
    const file = path.join(dir, path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    stat(file).then(
      (info) => {
        stats.served++;
        res.writeHead(200, { 'content-length': info.size, 'content-type': 'application/gzip' });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failWith(p, r) {
      probability = p;
      random = r;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
