// The deployment's input, checked once when the workflow starts; a bad request fails at once, naming
// the field. The environment is parsed here, so defaults are fixed in this run's history.
import { ApplicationFailure } from '@temporalio/workflow';
import { describeIssues, environmentSchema, isSha256, isValidReleaseId } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { SHAPE_V1, shapeProblem } from '../../lib/rollout/batches';
import type { DeployInput } from '../api';
import type { WorkflowInput } from './state';

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, failureTypes.invalidInput);

export function validated(input: DeployInput & Partial<Pick<WorkflowInput, 'resume'>>): WorkflowInput {
  // A continued run was validated by its first run; its input is the workflow's own.
  if (input.resume && input.shape) return input as WorkflowInput;
  const parsed = environmentSchema.safeParse(input?.environment);
  if (!parsed.success) throw invalid(`invalid environment:\n${describeIssues(parsed.error)}`);
  if (!isValidReleaseId(input.release ?? '')) throw invalid(`invalid release "${input.release}": use letters, digits, ".", "_" or "-"`);
  if (input.artifact !== undefined && !isSha256(input.artifact.sha256 ?? '')) throw invalid('artifact.sha256 must be 64 lowercase hex digits');
  if (input.commit !== undefined && !/^[0-9a-f]{7,40}$/.test(input.commit)) throw invalid(`commit "${input.commit}" must be 7 to 40 lowercase hex digits`);
  if (input.artifact === undefined && input.kind !== 'rollback') throw invalid('artifact is required unless kind is "rollback"');
  if (typeof input.requestedBy !== 'string' || input.requestedBy.trim() === '') throw invalid('requestedBy is required: who asks for this deployment');
  // A request without a shape (a hand-made `temporal workflow start`) gets the frozen first one.
  const shape = input.shape ?? SHAPE_V1;
  const problem = shapeProblem(shape);
  if (problem) throw invalid(problem);
  return { ...input, environment: parsed.data, shape: { ...shape } };
}
