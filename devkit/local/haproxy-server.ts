// Runs HAProxy on loopback with a generated config: one HTTP frontend, one backend, an admin socket.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canConnect, waitUntil } from '../../lib/core/wait';
import { startProcess, type ManagedProcess } from './child-process';
import { freePort } from './ports';

export interface HaproxyServer {
  url: string;
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
}

export function haproxyConfig(o: HaproxyOptions & { port: number; socket: string }): string {
  const servers = o.servers.map(
    (s) => `  server ${s.name} ${s.address} check inter 1s fall 2 rise 1${o.startInMaintenance ? ' disabled' : ''}`,
  );
  return [
    'global',
    `  stats socket ${o.socket} mode 600 level admin`,
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
    `  option httpchk GET ${o.servers[0]?.healthPath ?? '/healthz'}`,
    ...servers,
    '',
  ].join('\n');
}

export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyServer> {
  const port = await freePort();
  // Unix socket paths are limited to ~107 bytes; keep the socket beside a short config path.
  const socket = path.join(options.dir, 'admin.sock');
  const configFile = path.join(options.dir, 'haproxy.cfg');
  await writeFile(configFile, haproxyConfig({ ...options, port, socket }));
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
