// The codec server: Temporal's remote-codec HTTP protocol (POST …/encode and …/decode with Payloads
// as proto3 JSON), so the Web UI and `temporal --codec-endpoint` show decrypted payloads while the keys
// stay with this process. Every request needs the token: as `Authorization: Bearer <token>`, or — for
// the Web UI, which cannot add a header without its own login — as the first path segment of the
// configured endpoint (`http://host:port/<token>`). Browsers are served only from the UI's origin.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { z } from 'zod';
import type { Logger } from '../lib/core/logger';

const Payloads = proto.temporal.api.common.v1.Payloads;
const MAX_BODY = 8 * 1024 * 1024; // a few of Temporal's 2 MiB payloads

// proto3 JSON of temporal.api.common.v1.Payloads: bytes as base64.
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
const payloadsBody = z.strictObject({
  payloads: z.array(z.strictObject({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() })).max(10_000),
});

export interface CodecServerOptions {
  codec: PayloadCodec;
  token: string;
  /** The Web UI's origin (scheme://host:port); browsers from any other are refused. */
  allowedOrigin: string;
  host: string;
  port: number;
  logger: Logger;
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const { codec, logger } = options;
  const expected = digest(options.token);
  const tokenMatches = (candidate: string | undefined) => candidate !== undefined && timingSafeEqual(digest(candidate), expected);

  const server = createServer((req, res) => {
    const origin = req.headers.origin;
    const log = logger.child({ method: req.method, origin, namespace: req.headers['x-namespace'] });
    handle(req, res, origin).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      log.warn({ status, err: (err as Error).message }, 'codec request refused');
      reply(res, status, { error: (err as Error).message }, origin, status === 401 ? { 'www-authenticate': 'Bearer realm="gantry-codec"' } : {});
    });
  });

  const corsHeaders = (origin: string | undefined): Record<string, string> =>
    origin === options.allowedOrigin
      ? {
          'access-control-allow-origin': origin,
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type, x-namespace, authorization',
          'access-control-max-age': '600',
          vary: 'Origin',
        }
      : { vary: 'Origin' };

  const reply = (res: ServerResponse, status: number, body: unknown, origin: string | undefined, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...corsHeaders(origin), ...extra });
    res.end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse, origin: string | undefined): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://codec');
    if (req.method === 'GET' && url.pathname === '/healthz') return reply(res, 200, { ok: true }, origin);
    if (origin !== undefined && origin !== options.allowedOrigin) throw new HttpError(403, `origin ${origin} is not the Web UI's (${options.allowedOrigin})`);
    // Preflight: browsers send it without credentials; the POST that follows is checked.
    if (req.method === 'OPTIONS') {
      res.writeHead(204, corsHeaders(origin));
      return void res.end();
    }
    const segments = url.pathname.split('/').filter(Boolean);
    const operation = segments.at(-1);
    if (req.method !== 'POST' || (operation !== 'encode' && operation !== 'decode')) throw new HttpError(404, 'POST …/encode or …/decode');
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!tokenMatches(bearer) && !(segments.length === 2 && tokenMatches(segments[0]))) {
      throw new HttpError(401, 'a valid token is required: Authorization: Bearer <token>, or the endpoint http://host:port/<token>');
    }
    const parsed = payloadsBody.safeParse(parseJson(await readBody(req)));
    if (!parsed.success) throw new HttpError(400, `body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}; expected {"payloads":[{"metadata":{…},"data":"<base64>"}]}`);
    const payloads = Payloads.fromObject(parsed.data).payloads;
    let converted;
    try {
      converted = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    } catch (err) {
      throw new HttpError(422, (err as Error).message);
    }
    logger.debug({ operation, payloads: payloads.length }, 'codec request');
    reply(res, 200, Payloads.toObject(Payloads.create({ payloads: converted }), { bytes: String }), origin);
  }

  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, allowedOrigin: options.allowedOrigin }, 'codec server listening');
  return {
    url: `http://${address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, `body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}
