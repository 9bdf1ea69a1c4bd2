// The live per-node view drawn on a terminal by `gantry deploy --wait`.
import { describe, expect, it } from 'vitest';
import { drawProgress, renderProgress } from '../cli/progress-view';
import type { DeployStatus, NodeState } from '../workflows/api';

function statusWith(nodes: NodeState[]): DeployStatus {
  return {
    workflowId: 'deploy/prod', runId: 'r1', environment: 'prod', release: 'v2', commit: null, changes: null, definitionSha256: null, requestedBy: 'ci',
    artifactSha256: null, plan: null, approvalsMissing: [], signing: { identity: false, approvals: false, control: false },
    phase: 'rollout', paused: false, approvals: [], approvalsNeeded: 0, nodes, migration: null,
    events: [1, 2, 3, 4].map((i) => ({ time: `2026-11-22T10:00:0${i}.000Z`, what: `event ${i}` })),
  };
}
const node = (id: string, state: NodeState['state'], release: string | null = 'v1'): NodeState => ({ id, state, release, previousRelease: 'v1', lb: state === 'deploying' ? 'drain' : 'ready' });

describe('the live progress view', () => {
  it('shows the phase, a count per state, every node and the last events', () => {
    const frame = renderProgress(statusWith([node('web-1', 'live', 'v2'), node('web-2', 'deploying'), node('web-3', 'pending')]), 40, 1500);
    expect(frame[0]).toBe('deploy/prod  v2  phase rollout  1.5 s');
    expect(frame[1]).toBe('  1 deploying, 1 pending, 1 live');
    expect(frame.slice(2, 5)).toEqual([
      '  ✓ web-1           live         v2            ready',
      '  ▶ web-2           deploying    v1            drain',
      '  · web-3           pending      v1            ready',
    ]);
    expect(frame.slice(-3)).toEqual(['  10:00:02  event 2', '  10:00:03  event 3', '  10:00:04  event 4']);
  });

  it('shows a blue-green deployment\'s pools: who users reach, the smoke tests with a failure\'s answer, the switch and the warm period', () => {
    const status: DeployStatus = {
      ...statusWith([{ ...node('web-1', 'live', 'v2'), pool: 'blue' }, { ...node('web-3', 'pending'), pool: 'green' }]),
      phase: 'watch',
      pools: {
        live: 'blue', target: 'blue', backends: { blue: 'app_blue', green: 'app_green' }, nodes: { blue: ['web-1'], green: ['web-3'] }, shadowUrl: 'http://127.0.0.1:9000',
        smoke: [{ name: 'home', passed: true, status: 200, durationMs: 12 }, { name: 'api', passed: false, status: 500, durationMs: 30, error: 'status 500, expected 200', excerpt: '{"error":"db"}' }],
        switchedAt: '2026-11-22T10:00:05.000Z', watch: { until: '2026-11-22T10:02:05.000Z' }, warmUntil: '2026-11-22T10:30:05.000Z',
      },
    };
    const frame = renderProgress(status, 40, 0);
    expect(frame).toContain('  pools: users reach blue (app_blue); the release goes to blue (web-1), shadow http://127.0.0.1:9000');
    expect(frame).toContain('    smoke ✗ api: 500, 30 ms — status 500, expected 200; got: {"error":"db"}');
    expect(frame).toContain('    switched to blue at 2026-11-22T10:00:05.000Z; watch until 2026-11-22T10:02:05.000Z');
    expect(frame).toContain('    green stays warm until 2026-11-22T10:30:05.000Z (gantry switch-back)');
    expect(frame.find((line) => line.includes('web-3'))).toBe('  · web-3           green  pending      v1            ready');
  });

  it('fits a big fleet on the screen, nodes in flight and failed first', () => {
    const nodes = Array.from({ length: 200 }, (_, i) => node(`n-${i}`, i < 150 ? 'live' : i === 170 ? 'failed' : i < 180 ? 'deploying' : 'pending'));
    const frame = renderProgress(statusWith(nodes), 20, 0);
    expect(frame.length).toBeLessThanOrEqual(20);
    expect(frame[1]).toBe('  1 failed, 29 deploying, 20 pending, 150 live');
    expect(frame[2]).toContain('✗ n-170');
    expect(frame[3]).toContain('▶ n-150');
    expect(frame.find((line) => line.includes('more'))).toMatch(/… and \d+ more/);
  });

  it('redraws in place: each frame first moves up over the previous one', async () => {
    const writes: string[] = [];
    const out = { columns: 100, rows: 30, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const statuses = [statusWith([node('web-1', 'deploying')]), statusWith([node('web-1', 'live', 'v2')])];
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let reads = 0;
    const read = () => {
      const s = statuses[Math.min(reads++, 1)];
      if (reads === 2) resolveDone();
      return Promise.resolve(s);
    };
    await drawProgress(read, out, done);
    expect(writes.length).toBeGreaterThanOrEqual(2);
    const firstHeight = writes[0]!.split('\n').length - 1;
    expect(writes[1]!.startsWith(`\x1b[${firstHeight}F\x1b[J`)).toBe(true);
    expect(writes.at(-1)).toContain('✓ web-1');
  });
});
