// What `gantry deploy|rollback --wait` exits with for each outcome: CI scripts branch on these.
import { describe, expect, it } from 'vitest';
import { exitCodeOf } from '../cli/commands/deploy';
import type { DeployOutcome } from '../client/deployments';

const outcome = (patch: Partial<DeployOutcome>): DeployOutcome => ({ workflowId: 'deploy/prod', runId: 'r1', status: 'live', release: 'v2', ...patch });

describe('exit codes', () => {
  it('tell a clean abort from one whose undo failed, and a full rollback from one that could not reach a node', () => {
    expect(exitCodeOf(outcome({}))).toBe(0);
    expect(exitCodeOf(outcome({ status: 'rolled-back' }))).toBe(2);
    expect(exitCodeOf(outcome({ status: 'aborted' }))).toBe(3);
    expect(exitCodeOf(outcome({ status: 'aborted', undoFailures: [{ node: 'web-2', error: 'agent did not answer' }] }))).toBe(5);
    expect(exitCodeOf(outcome({ nodes: [{ id: 'web-1', release: 'v1', lb: 'ready' }] }))).toBe(0);
    expect(exitCodeOf(outcome({ nodes: [{ id: 'web-1', release: 'v1', lb: 'ready' }, { id: 'web-3', release: null, lb: 'ready', error: 'unreachable: …' }] }))).toBe(2);
  });
});
