// Gantry's sample app: any HTTP app works; this one reports its release so deployments can be checked.
// Plain Node, no dependencies: its release is stamped into release.json when the release is built.
import { readFileSync } from 'node:fs';
import http from 'node:http';

// `unhealthyOn` lists nodes where this release's health check fails: how the tests build a bad release.
const { release, unhealthyOn = [] } = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const port = Number(process.env.PORT ?? 8080);
const node = process.env.NODE_ID ?? 'unknown';
const healthy = !unhealthyOn.includes(node);

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(healthy ? 200 : 500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: healthy ? 'ok' : 'broken', release, node }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: `hello from ${release}`, release, node }));
});
server.keepAliveTimeout = 10_000;

// Graceful stop: finish in-flight requests, close idle keep-alive connections, then exit.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
});

server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', port, release }));
});
