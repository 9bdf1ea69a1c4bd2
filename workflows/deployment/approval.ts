// The approval gate: waits for the environment's minimum of approvals, or ends the deployment as
// aborted at the timeout without touching a node.
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { formatDuration } from '../../lib/config/duration';
import { failureTypes } from '../../lib/core/failure-types';
import { approversOf } from '../../lib/identity/policy';
import type { Notices } from './notices';
import type { DeploymentState } from './state';

export async function awaitApproval(state: DeploymentState, notices: Notices): Promise<void> {
  const policy = state.input.environment.approval!;
  state.enter('awaiting-approval');
  const { authors } = state.changeAuthors();
  notices.send('awaiting-approval', {
    approvers: approversOf(state.input.environment) ?? [],
    minApprovals: policy.minApprovals,
    ...(policy.rules?.length ? { rules: policy.rules } : {}),
    ...(policy.requireSigned ? { requireSigned: true } : {}),
    // approval.requireAuthors: whose changes go out, and what the gate still misses.
    ...(authors.length ? { requireAuthors: policy.requireAuthors, authors, stillNeeded: state.approvalProgress().missing } : {}),
  });
  const approved = await condition(() => state.approvalProgress().met, policy.timeout);
  if (!approved) {
    notices.send('approval-timed-out');
    const progress = state.approvalProgress();
    throw ApplicationFailure.nonRetryable(
      `approval timed out after ${formatDuration(policy.timeout)} with ${state.countedApprovals().length} of ${policy.minApprovals} approvals${policy.rules?.length || policy.requireSigned || authors.length ? ` counted; still needed: ${progress.missing.join(', ')}` : ''}`,
      failureTypes.approvalTimedOut,
    );
  }
  const approvals = state.countedApprovals();
  state.record(`approved by ${approvals.map((a) => `${a.by}${a.verified ? ' (signed)' : ''}`).join(', ')}`);
  notices.send('approved', { approvals });
}

