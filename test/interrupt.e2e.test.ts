// Nothing left behind: `gantry demo` killed with SIGKILL mid-run (what a CI time-out does) leaves no
// Temporal server, HAProxy, agent, worker or app running — the reaper's watchdog ends them all.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../lib/core/wait';

const CLI = path.join(import.meta.dirname, '../cli/main.ts');

/** Processes whose command line, working folder or environment mention `dir`. */
function processesUsing(dir: string): { pid: number; cmd: string }[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
        const uses = cmd.includes(dir) || readlinkSync(`/proc/${p}/cwd`).startsWith(dir) || readFileSync(`/proc/${p}/environ`, 'utf8').includes(dir);
        return uses ? [{ pid: Number(p), cmd }] : [];
      } catch {
        return [];
      }
    });
}

describe('an interrupted demo', () => {
  it('leaves no process behind after kill -9', async () => {
    const env = { ...process.env };
    delete env.GANTRY_REAP_LIST; // the demo runs its own session, as from a terminal
    const demo = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--nodes', '2'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    demo.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Generous: the demo builds its stack from nothing while other test files load both cores.
    const upAndServing = await waitUntil(() => /demo: v1 live/.test(output) || demo.exitCode !== null, 200_000, 100);
    expect(upAndServing && demo.exitCode === null, output.slice(-2000)).toBe(true);
    const dir = /demo: working in (\S+)/.exec(output)![1]!;
    const running = processesUsing(dir).filter((p) => p.pid !== demo.pid);
    // The dev server, HAProxy, 2 agents, the worker and 2 apps.
    expect(running.length, running.map((p) => p.cmd).join('\n')).toBeGreaterThanOrEqual(7);

    demo.kill('SIGKILL');
    const cleared = await waitUntil(() => processesUsing(dir).length === 0, 20_000, 200);
    expect(cleared, processesUsing(dir).map((p) => `${p.pid} ${p.cmd}`).join('\n')).toBe(true);
  }, 260_000);
});
