// Waiting on a running deployment's status, and reading why an update was refused.
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { expect } from 'vitest';
import { waitUntil } from '../../lib/core/wait';
import { statusQuery, type DeployStatus } from '../../workflows/api';
import { caught } from './caught';

/** Polls the status query until `ok`; fails the test naming `what` and the last phase. */
export async function waitForStatus(handle: WorkflowHandle, ok: (s: DeployStatus) => boolean, what: string): Promise<DeployStatus> {
  let last: DeployStatus | undefined;
  const reached = await waitUntil(async () => ok((last = await handle.query(statusQuery))), 60_000, 50);
  expect(reached, `waiting for ${what}; last phase ${last?.phase}`).toBe(true);
  return last!;
}

/** The reason an update was refused (the test fails if it was not). */
export async function rejection(promise: Promise<unknown>): Promise<string> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause?.message ?? '';
}
