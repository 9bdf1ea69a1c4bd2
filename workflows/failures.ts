// Reading failure chains (child workflow → activity → application failure).
import { ActivityFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/** The innermost useful message. */
export function describeFailure(err: unknown): string {
  let current: unknown = err;
  while ((current instanceof ChildWorkflowFailure || current instanceof ActivityFailure) && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/** The activity that failed, e.g. "waitHealthy", when the chain has one. */
export function failedStep(err: unknown): string | undefined {
  let current: unknown = err;
  while (current instanceof ChildWorkflowFailure && current.cause) current = current.cause;
  return current instanceof ActivityFailure ? current.activityType : undefined;
}
