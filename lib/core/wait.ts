// Small waiting helpers shared by the agent and the local stack.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** True once a TCP connection to host:port succeeds. */
export function canConnect(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs, undefined, { signal });
  }
}

export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match) throw new Error(`expected host:port, got "${address}"`);
  return { host: match[1]!, port: Number(match[2]) };
}
