// Reading failure chains (child workflow → activity → application failure).
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/** Below the child-workflow and activity wrappers: the failure that says what went wrong. */
export function innermost(err: unknown): unknown {
  let current: unknown = err;
  while ((current instanceof ChildWorkflowFailure || current instanceof ActivityFailure) && current.cause) current = current.cause;
  return current;
}

/** The innermost useful message. */
export function describeFailure(err: unknown): string {
  const current = innermost(err);
  return current instanceof Error ? current.message : String(current);
}

/** The step that failed, e.g. "waitHealthy": named by the node workflow, or the failed activity's type. */
export function failedStep(err: unknown): string | undefined {
  let current: unknown = err;
  while (current instanceof ChildWorkflowFailure && current.cause) current = current.cause;
  const named = current instanceof ApplicationFailure ? (current.details?.[0] as { step?: unknown } | undefined)?.step : undefined;
  if (typeof named === 'string') return named;
  return current instanceof ActivityFailure ? current.activityType : undefined;
}
