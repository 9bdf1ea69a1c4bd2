// HAProxy Runtime API client (unix socket or TCP). Each command opens a connection, writes one line
// and reads until HAProxy closes it (non-interactive mode).
import net from 'node:net';

export type ServerAdminState = 'ready' | 'drain' | 'maint';

export interface ServerStat {
  backend: string;
  server: string;
  /** Current sessions on the server. */
  scur: number;
  /** Requests queued for the server. */
  qcur: number;
  /** HAProxy's status text: UP, DOWN, DRAIN, MAINT, "no check", ... */
  status: string;
}

/** One word for a server's state, as results report it: ready, drain, maint or down. */
export function lbState(status: string): 'ready' | 'drain' | 'maint' | 'down' {
  if (status.startsWith('MAINT')) return 'maint';
  if (status.startsWith('DRAIN') || status.startsWith('NOLB')) return 'drain';
  if (status.startsWith('DOWN')) return 'down';
  return 'ready';
}

export class HaproxyError extends Error {
  override readonly name = 'HaproxyError';
}

/** What Gantry needs from a load balancer; HAProxy's Runtime API implements it (benchmarks also use an in-process one). */
export interface LoadBalancerApi {
  setServerState(backend: string, server: string, state: ServerAdminState): Promise<void>;
  shutdownSessions(backend: string, server: string): Promise<void>;
  setAgentCheck(backend: string, server: string, enabled: boolean): Promise<void>;
  showStat(): Promise<ServerStat[]>;
  serverStat(backend: string, server: string): Promise<ServerStat>;
}

export class HaproxyClient implements LoadBalancerApi {
  constructor(
    /** A unix socket path, or host:port for a TCP stats socket. */
    private readonly socket: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async command(line: string): Promise<string> {
    if (/[\n;]/.test(line)) throw new HaproxyError(`refusing to send a command with a newline or ";": ${line}`);
    return new Promise((resolve, reject) => {
      const conn = net.connect(connectOptions(this.socket));
      const chunks: Buffer[] = [];
      conn.setTimeout(this.timeoutMs, () => conn.destroy(new HaproxyError(`no answer from ${this.socket} within ${this.timeoutMs} ms`)));
      conn.on('connect', () => conn.end(`${line}\n`));
      conn.on('data', (chunk: Buffer) => chunks.push(chunk));
      conn.on('error', (err) => reject(new HaproxyError(`HAProxy runtime API at ${this.socket}: ${err.message}`)));
      conn.on('close', (hadError) => {
        if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  async setServerState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    // Success prints nothing; anything else is HAProxy explaining what was wrong.
    await this.expectSilence(`set server ${backend}/${server} state ${state}`);
  }

  /** Ends every session still open on the server (clients holding persistent connections). */
  async shutdownSessions(backend: string, server: string): Promise<void> {
    await this.expectSilence(`shutdown sessions server ${backend}/${server}`);
  }

  /** Turns the server's agent-check off or on, so it cannot bring the server back mid-deploy. */
  async setAgentCheck(backend: string, server: string, enabled: boolean): Promise<void> {
    await this.expectSilence(`${enabled ? 'enable' : 'disable'} agent ${backend}/${server}`);
  }

  private async expectSilence(line: string): Promise<void> {
    const answer = (await this.command(line)).trim();
    if (answer !== '') throw new HaproxyError(`${line}: ${answer}`);
  }

  async showStat(): Promise<ServerStat[]> {
    return parseShowStat(await this.command('show stat'));
  }

  async serverStat(backend: string, server: string): Promise<ServerStat> {
    const stat = (await this.showStat()).find((s) => s.backend === backend && s.server === server);
    if (!stat) throw new HaproxyError(`HAProxy has no server ${server} in backend ${backend}`);
    return stat;
  }
}

function connectOptions(socket: string): net.NetConnectOpts {
  const tcp = /^(.+):(\d+)$/.exec(socket);
  if (tcp && !socket.startsWith('/')) return { host: tcp[1]!.replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  return { path: socket };
}

/** Parses `show stat` CSV (header line "# pxname,svname,qcur,..."), keeping server rows only. */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (!header?.startsWith('# ')) throw new HaproxyError(`unexpected "show stat" output: ${csv.slice(0, 200)}`);
  const columns = header.slice(2).split(',');
  const col = (name: string) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new HaproxyError(`"show stat" output has no ${name} column`);
    return index;
  };
  const [px, sv, scur, qcur, status] = ['pxname', 'svname', 'scur', 'qcur', 'status'].map(col) as [number, number, number, number, number];
  return lines
    .slice(1)
    .map((line) => line.split(','))
    .filter((f) => f[sv] !== 'FRONTEND' && f[sv] !== 'BACKEND')
    .map((f) => ({
      backend: f[px] ?? '',
      server: f[sv] ?? '',
      scur: Number(f[scur] || 0),
      qcur: Number(f[qcur] || 0),
      status: f[status] ?? '',
    }));
}
