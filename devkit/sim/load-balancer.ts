// An in-process load balancer with HAProxy's interface, for benchmarks only (correctness tests use
// HAProxy itself): a drained server keeps its sessions for `drainMs`, then has none. Servers appear
// (ready, serving) the first time they are named.
import type { LoadBalancerApi, ServerAdminState, ServerStat } from '../../lib/lb/haproxy';

interface Server {
  state: ServerAdminState;
  drainingSince: number;
}

export class SimulatedLoadBalancer implements LoadBalancerApi {
  private readonly servers = new Map<string, Server>();

  constructor(
    private readonly drainMs: number,
    private readonly sessionsWhileServing = 3,
  ) {}

  /** Makes servers known up front, so `show stat` lists them before any is named. */
  add(backend: string, names: string[]): this {
    for (const name of names) this.server(backend, name);
    return this;
  }

  private server(backend: string, name: string): Server {
    const key = `${backend}/${name}`;
    let server = this.servers.get(key);
    if (!server) this.servers.set(key, (server = { state: 'ready', drainingSince: 0 }));
    return server;
  }

  setServerState(backend: string, name: string, state: ServerAdminState): Promise<void> {
    const server = this.server(backend, name);
    if (state === 'drain' && server.state === 'ready') server.drainingSince = Date.now();
    server.state = state;
    return Promise.resolve();
  }

  shutdownSessions(backend: string, name: string): Promise<void> {
    this.server(backend, name).drainingSince = 0;
    return Promise.resolve();
  }

  setAgentCheck(): Promise<void> {
    return Promise.resolve();
  }

  private stat(key: string, server: Server): ServerStat {
    const [backend, name] = key.split('/') as [string, string];
    const sessions =
      server.state === 'ready' ? this.sessionsWhileServing : server.state === 'drain' && Date.now() - server.drainingSince < this.drainMs ? 1 : 0;
    const status = { ready: 'UP', drain: 'DRAIN', maint: 'MAINT' }[server.state];
    return { backend, server: name, scur: sessions, qcur: 0, status };
  }

  showStat(): Promise<ServerStat[]> {
    return Promise.resolve([...this.servers].map(([key, server]) => this.stat(key, server)));
  }

  serverStat(backend: string, name: string): Promise<ServerStat> {
    return Promise.resolve(this.stat(`${backend}/${name}`, this.server(backend, name)));
  }
}
