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

/** A backend's counters since HAProxy started: what the post-switch watch compares. */
export interface BackendCounters {
  backend: string;
  /** Responses with a 5xx status the servers sent. */
  http5xx: number;
  /** Connection errors to the servers, and responses that failed midway. */
  connectionErrors: number;
  /** Requests (sessions) the backend took. */
  sessions: number;
  /** Servers HAProxy can send traffic to now (its `act` column). */
  activeServers: number;
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

  /** A map's entries as HAProxy has them now: key → value. */
  async showMap(file: string): Promise<Record<string, string>> {
    const answer = await this.command(`show map ${file}`);
    if (/^Unknown map/i.test(answer.trim())) throw new HaproxyError(`HAProxy has no map ${file} (is it the path the config's map() names?)`);
    const entries: Record<string, string> = {};
    // "0x55d0… key value" per line.
    for (const line of answer.split('\n')) {
      const match = /^0x[0-9a-f]+ (\S+) (.*)$/.exec(line.trim());
      if (match) entries[match[1]!] = match[2]!;
    }
    return entries;
  }

  /** Replaces a map's whole content in one step (prepare, add, commit): a lookup sees the old entries or the new ones, never a mix. */
  async replaceMap(file: string, entries: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(entries)) {
      if (!/^\S+$/.test(key) || !/^\S+$/.test(value)) throw new HaproxyError(`map entry "${key} ${value}": keys and values are single words`);
    }
    const prepared = (await this.command(`prepare map ${file}`)).trim();
    const version = /New version created: (\d+)/.exec(prepared)?.[1];
    if (!version) throw new HaproxyError(`prepare map ${file}: ${prepared || '(no answer)'}`);
    for (const [key, value] of Object.entries(entries)) await this.expectSilence(`add map @${version} ${file} ${key} ${value}`);
    await this.expectSilence(`commit map @${version} ${file}`);
  }

  async backendCounters(backend: string): Promise<BackendCounters> {
    const row = parseBackendRows(await this.command('show stat')).find((r) => r.backend === backend);
    if (!row) throw new HaproxyError(`HAProxy has no backend ${backend}`);
    return row;
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

/** `show stat` CSV (header line "# pxname,svname,qcur,..."): each row as a lookup of the named columns. */
function statRows(csv: string, names: readonly string[]): Record<string, string>[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (!header?.startsWith('# ')) throw new HaproxyError(`unexpected "show stat" output: ${csv.slice(0, 200)}`);
  const columns = header.slice(2).split(',');
  const at = names.map((name) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new HaproxyError(`"show stat" output has no ${name} column`);
    return [name, index] as const;
  });
  return lines.slice(1).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(at.map(([name, index]) => [name, fields[index] ?? '']));
  });
}

/** Parses `show stat`, keeping server rows only. */
export function parseShowStat(csv: string): ServerStat[] {
  return statRows(csv, ['pxname', 'svname', 'scur', 'qcur', 'status'])
    .filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND')
    .map((r) => ({ backend: r.pxname!, server: r.svname!, scur: Number(r.scur || 0), qcur: Number(r.qcur || 0), status: r.status! }));
}

/** The BACKEND rows of `show stat`: each backend's error counters and usable servers. */
export function parseBackendRows(csv: string): BackendCounters[] {
  const num = (value: string | undefined) => Number(value || 0);
  return statRows(csv, ['pxname', 'svname', 'hrsp_5xx', 'econ', 'eresp', 'stot', 'act'])
    .filter((r) => r.svname === 'BACKEND')
    .map((r) => ({
      backend: r.pxname!,
      http5xx: num(r.hrsp_5xx),
      connectionErrors: num(r.econ) + num(r.eresp),
      sessions: num(r.stot),
      activeServers: num(r.act),
    }));
}
