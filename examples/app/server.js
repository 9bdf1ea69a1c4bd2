// Gantry's sample app: any HTTP app works; this one reports its release so deployments can be checked.
// release.json is stamped when the release is built: its release name, the columns of `items` this
// version reads (so each version's schema needs are real), and `unhealthyOn`, nodes where its health
// check fails, and `failsRequests`, a release healthy to its checks that answers users with 500s (how
// the tests build bad releases).
import { readFileSync } from 'node:fs';
import http from 'node:http';

const { release, unhealthyOn = [], columns = ['id', 'name'], failsRequests = false } = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const port = Number(process.env.PORT ?? 8080);
const node = process.env.NODE_ID ?? 'unknown';
const healthy = !unhealthyOn.includes(node);

let pool = null;
if (process.env.DATABASE_URL) {
  const { default: pg } = await import('pg');
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
}

/** Reads what this version needs from the database; throws when the schema does not fit. */
async function readItems() {
  if (!pool) return undefined;
  const result = await pool.query(`SELECT ${columns.join(', ')} FROM items ORDER BY id LIMIT 5`);
  return result.rows;
}

const server = http.createServer(async (req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ release, node, ...body }));
  };
  if (req.url === '/healthz' && !healthy) return send(500, { status: 'broken' });
  if (req.url !== '/healthz' && failsRequests) return send(500, { status: 'broken for users' });
  try {
    const items = await readItems();
    if (req.url === '/healthz') return send(200, { status: 'ok', ...(pool ? { database: 'ok' } : {}) });
    return send(200, { message: `hello from ${release}`, ...(items ? { items } : {}) });
  } catch (err) {
    return send(req.url === '/healthz' ? 503 : 500, { status: 'database error', error: err.message });
  }
});
server.keepAliveTimeout = 10_000;

// Graceful stop: finish in-flight requests, close idle keep-alive connections, then exit.
process.on('SIGTERM', () => {
  server.close(() => {
    void Promise.resolve(pool?.end()).finally(() => process.exit(0));
  });
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
});

server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', port, release }));
});
