// Runs HAProxy on loopback with a generated config: one HTTP frontend, one backend, an admin socket.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canConnect, waitUntil } from '../../lib/core/wait';
import { startProcess, type ManagedProcess } from './child-process';
import { freePort } from './ports';

export interface HaproxyServer {
  url: string;
  /** Blue-green: the shadow frontend (the idle pool) and the map that routes both frontends. */
  shadowUrl?: string;
  mapFile?: string;
  socket: string;
  backend: string;
  process: ManagedProcess;
  /** Stops HAProxy and starts it again on the same config, port and socket: its runtime state (server states set through the socket) is gone, as after a reload without a server-state file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface HaproxyOptions {
  haproxyPath: string;
  dir: string;
  backend: string;
  servers: { name: string; address: string; healthPath: string }[];
  /** Servers start in maintenance: nothing is deployed on a fresh node yet. */
  startInMaintenance: boolean;
  /** Blue-green: two backends (the servers split between them), a shadow frontend, and a map naming the live and idle backend. */
  pools?: { blue: { backend: string; servers: string[] }; green: { backend: string; servers: string[] } };
}

export function haproxyConfig(o: HaproxyOptions & { port: number; socket: string; shadowPort?: number; mapFile?: string }): string {
  const line = (s: HaproxyOptions['servers'][number]) => `  server ${s.name} ${s.address} check inter 1s fall 2 rise 1${o.startInMaintenance ? ' disabled' : ''}`;
  const servers = o.servers.map(line);
  const check = `  option httpchk GET ${o.servers[0]?.healthPath ?? '/healthz'}`;
  if (o.pools && o.mapFile && o.shadowPort) {
    const pool = (p: { backend: string; servers: string[] }) => ['', `backend ${p.backend}`, '  balance roundrobin', check, ...o.servers.filter((s) => p.servers.includes(s.name)).map(line)];
    return [
      ...GLOBAL(o.socket),
      'frontend web',
      `  bind 127.0.0.1:${o.port}`,
      // The map names the live pool's backend: a switch is one `commit map`, and the file keeps it across a reload.
      `  use_backend %[str(live),map(${o.mapFile},${o.pools.blue.backend})]`,
      '',
      'frontend shadow',
      `  bind 127.0.0.1:${o.shadowPort}`,
      `  use_backend %[str(shadow),map(${o.mapFile},${o.pools.green.backend})]`,
      ...pool(o.pools.blue),
      ...pool(o.pools.green),
      '',
    ].join('\n');
  }
  return [
    ...GLOBAL(o.socket),
    'frontend web',
    `  bind 127.0.0.1:${o.port}`,
    // With no usable app server (all in maintenance: a fresh fleet, or downtime mode), say so politely.
    `  use_backend maintenance if { nbsrv(${o.backend}) eq 0 }`,
    `  default_backend ${o.backend}`,
    '',
    'backend maintenance',
    '  http-request return status 503 content-type "text/html" string "<h1>Down for maintenance</h1>" hdr Retry-After 30',
    '',
    `backend ${o.backend}`,
    '  balance roundrobin',
    check,
    ...servers,
    '',
  ].join('\n');
}

const GLOBAL = (socket: string) => [
  'global',
  `  stats socket ${socket} mode 600 level admin`,
  '  stats timeout 30s',
  '',
  'defaults',
  '  mode http',
  '  option httplog',
  '  timeout connect 2s',
  '  timeout client 30s',
  '  timeout server 30s',
  '  timeout http-keep-alive 5s',
  '',
];

export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyServer> {
  const port = await freePort();
  // Unix socket paths are limited to ~107 bytes; keep the socket beside a short config path.
  const socket = path.join(options.dir, 'admin.sock');
  const configFile = path.join(options.dir, 'haproxy.cfg');
  const shadowPort = options.pools ? await freePort() : undefined;
  const mapFile = options.pools ? path.join(options.dir, 'pools.map') : undefined;
  // Blue serves first; the shadow address reaches green.
  if (options.pools) await writeFile(mapFile!, `live ${options.pools.blue.backend}\nshadow ${options.pools.green.backend}\n`);
  await writeFile(configFile, haproxyConfig({ ...options, port, socket, ...(shadowPort ? { shadowPort, mapFile } : {}) }));
  const launch = async (): Promise<ManagedProcess> => {
    const proc = startProcess(options.haproxyPath, ['-db', '-f', configFile], { logFile: path.join(options.dir, 'haproxy.log') });
    const up = await waitUntil(async () => proc.exited() || (await canConnect('127.0.0.1', port, 500)), 15_000, 100);
    if (!up || proc.exited()) {
      await proc.stop();
      throw new Error(`HAProxy did not start:\n${await proc.logTail()}`);
    }
    return proc;
  };
  const server: HaproxyServer = {
    url: `http://127.0.0.1:${port}`,
    ...(shadowPort ? { shadowUrl: `http://127.0.0.1:${shadowPort}`, mapFile } : {}),
    socket,
    backend: options.backend,
    process: await launch(),
    restart: async () => {
      await server.process.stop();
      server.process = await launch();
    },
    stop: () => server.process.stop(),
  };
  return server;
}
