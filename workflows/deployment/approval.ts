// The approval gate: waits for the environment's minimum of approvals, or ends the deployment as
// aborted at the timeout without touching a node.
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { formatDuration } from '../../lib/config/duration';
import { failureTypes } from '../../lib/core/failure-types';
import type { Notices } from './notices';
import type { DeploymentState } from './state';

export async function awaitApproval(state: DeploymentState, notices: Notices): Promise<void> {
  const policy = state.input.environment.approval!;
  state.enter('awaiting-approval');
  notices.send('awaiting-approval', { approvers: policy.approvers, minApprovals: policy.minApprovals });
  const approved = await condition(() => state.approvals.length >= policy.minApprovals, policy.timeout);
  if (!approved) {
    notices.send('approval-timed-out');
    throw ApplicationFailure.nonRetryable(
      `approval timed out after ${formatDuration(policy.timeout)} with ${state.approvals.length} of ${policy.minApprovals} approvals`,
      failureTypes.approvalTimedOut,
    );
  }
  state.record(`approved by ${state.approvals.map((a) => a.by).join(', ')}`);
  notices.send('approved', { approvals: state.approvals });
}
