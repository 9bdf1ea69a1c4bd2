// The Runtime API client against a real HAProxy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createControlActivities } from '../activities/orchestrator/control';
import { loadBalancerSchema } from '../lib/config/environment-schema';
import { HaproxyClient, HaproxyError, parseBackendRows, parseShowStat } from '../lib/lb/haproxy';
import { createLogger } from '../lib/core/logger';
import { caught } from './helpers/caught';
import { startHaproxy, type HaproxyServer } from '../devkit/local/haproxy-server';
import { waitUntil } from '../lib/core/wait';

let dir: string;
let app: http.Server;
let haproxy: HaproxyServer;
let client: HaproxyClient;
const control = createControlActivities({ logger: createLogger('test', 'silent') });

// "UP 1/2" right after leaving maint: HAProxy's own checks have not run yet; the state word is what counts.
const status = async () => (await client.serverStat('app', 'web-1')).status.split(' ')[0];

describe('HAProxy Runtime API client', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-hap-'));
    // `/hold` keeps its request open: a client holding a session through HAProxy.
    app = http.createServer((req, res) => {
      if (req.url === '/hold') setTimeout(() => res.end('late'), 20_000).unref();
      else res.end('ok');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const { port } = app.address() as AddressInfo;
    haproxy = await startHaproxy({
      haproxyPath: inject('haproxyPath'),
      dir,
      backend: 'app',
      servers: [{ name: 'web-1', address: `127.0.0.1:${port}`, healthPath: '/' }],
      startInMaintenance: false,
    });
    client = new HaproxyClient(haproxy.socket);
  });
  afterAll(async () => {
    await haproxy?.stop();
    app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('moves a server through drain, maint and ready, as show stat reports', async () => {
    expect(await waitUntil(async () => (await status()) === 'UP', 10_000)).toBe(true);
    await client.setServerState('app', 'web-1', 'drain');
    expect(await status()).toBe('DRAIN');
    await client.setServerState('app', 'web-1', 'maint');
    expect(await status()).toBe('MAINT');
    expect((await fetch(haproxy.url)).status).toBe(503);
    await client.setServerState('app', 'web-1', 'ready');
    expect(await status()).toBe('UP');
    expect((await fetch(haproxy.url)).status).toBe(200);
  });

  it('reports HAProxy\'s own words for a server that does not exist', async () => {
    await expect(client.setServerState('app', 'nope', 'drain')).rejects.toThrow(/set server app\/nope state drain: .*No such server/i);
    await expect(client.serverStat('app', 'nope')).rejects.toBeInstanceOf(HaproxyError);
  });

  it('fails clearly when the socket is not there', async () => {
    await expect(new HaproxyClient(path.join(dir, 'missing.sock')).showStat()).rejects.toThrow(/HAProxy runtime API at .*missing.sock: connect ENOENT/);
  });

  it('at the drain deadline, ends the sessions still open (or fails, when told to)', async () => {
    const lb = loadBalancerSchema.parse({ type: 'haproxy', socket: haproxy.socket, backend: 'app', drainTimeout: '1s', pollInterval: '100ms' });
    const hold = () => fetch(`${haproxy.url}/hold`).then((r) => `status ${r.status}`, (err: Error) => `error: ${err.message}`);
    const drain = (config: typeof lb): Promise<{ waitedMs: number }> => new MockActivityEnvironment().run(control.drain.bind(control), { lb: config, server: 'web-1' });

    const held = hold();
    expect(await waitUntil(async () => (await client.serverStat('app', 'web-1')).scur === 1, 5_000)).toBe(true);
    const refused = await caught(drain({ ...lb, onDrainTimeout: 'fail' }));
    expect(refused).toMatchObject({ type: 'DrainTimeout', message: expect.stringContaining('still has 1 sessions') as string });
    await client.setServerState('app', 'web-1', 'ready');

    const started = Date.now();
    const { waitedMs } = await drain(lb);
    expect(waitedMs).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await status()).toBe('MAINT');
    expect(await held).toMatch(/^(error|status 50\d)/);
    await client.setServerState('app', 'web-1', 'ready');
  });

  it('parses show stat by column name', () => {
    const csv = '# pxname,svname,qcur,qmax,scur,smax,status\nweb,FRONTEND,,,0,1,OPEN\napp,web-1,2,0,5,9,DRAIN\napp,BACKEND,0,0,5,9,UP\n';
    expect(parseShowStat(csv)).toEqual([{ backend: 'app', server: 'web-1', qcur: 2, scur: 5, status: 'DRAIN' }]);
  });

  it("reads a backend's error counters from its BACKEND row, and names a missing column", () => {
    const csv = '# pxname,svname,stot,econ,eresp,act,hrsp_5xx\napp_blue,web-1,40,1,0,1,3\napp_blue,BACKEND,90,2,1,2,7\napp_green,BACKEND,5,,,0,\n';
    expect(parseBackendRows(csv)).toEqual([
      { backend: 'app_blue', http5xx: 7, connectionErrors: 3, sessions: 90, activeServers: 2 },
      { backend: 'app_green', http5xx: 0, connectionErrors: 0, sessions: 5, activeServers: 0 },
    ]);
    expect(() => parseBackendRows('# pxname,svname\napp,BACKEND\n')).toThrow('"show stat" output has no hrsp_5xx column');
  });
});
