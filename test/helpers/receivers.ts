// Local notification receivers: one that records what it gets (and checks the HMAC signature when
// given a secret), one that answers 500, one that never answers. All on 127.0.0.1, closed by the test.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Delivery {
  body: Record<string, unknown>;
  signatureValid?: boolean;
}

export type ReceiverKind = 'record' | 'fail' | 'hang';

export async function startReceiver(kind: ReceiverKind, secret?: string) {
  const deliveries: Delivery[] = [];
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (kind === 'hang') return; // never answers
      if (kind === 'fail') {
        res.writeHead(500).end('internal error');
        return;
      }
      const raw = Buffer.concat(chunks);
      const delivery: Delivery = { body: JSON.parse(raw.toString('utf8')) as Record<string, unknown> };
      if (secret !== undefined) {
        const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
        const given = Buffer.from(String(req.headers['x-gantry-signature-256'] ?? ''));
        delivery.signatureValid = given.length === expected.length && timingSafeEqual(given, expected);
      }
      deliveries.push(delivery);
      res.writeHead(200).end('ok');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    deliveries,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
