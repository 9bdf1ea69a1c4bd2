// One request's deployment as the queue's child `deploy/<env>`: started with the summary, search
// attributes and memo every client reads, then awaited for its outcome. ABANDON: a queue that is
// terminated or reset never takes a running deployment (and its drained nodes) down with it.
import {
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { deploymentWorkflowId, searchAttributes, type DeployInput, type DeployResult } from '../api';
import type { FinishedRequest, QueuedRequest } from '../queue-api';
import { describeFailure } from '../common/failures';
import { queueWaits } from '../common/proxies';
import type { QueueState } from './queue-state';

type DeploymentWorkflow = (input: DeployInput) => Promise<DeployResult>;

/** What a retried request must repeat to attach: clients compare it with theirs (client/deployments.ts). */
export const requestKey = (input: DeployInput) => ({
  release: input.release,
  commit: input.commit ?? null,
  artifactSha256: input.artifactSha256 ?? null,
  kind: input.kind ?? 'deploy',
});

function startOptions(entry: QueuedRequest) {
  const { input } = entry;
  const covers = entry.covers.length > 1 ? `\n\ncovers ${entry.covers.map((c) => `${c.release} (${c.requestedBy})`).join(', ')}` : '';
  return {
    workflowId: deploymentWorkflowId(input.environment),
    args: [input] as [DeployInput],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `${entry.kind === 'rollback' ? 'Roll back' : input.promote ? 'Promote' : 'Deploy'} ${entry.release} to ${input.environment}, requested by ${entry.requesters.join(', ')}`,
    staticDetails: [
      `**${entry.release}** → **${input.environment}** (nodes and policy from the orchestrator's definition; see current details)`,
      `requested by ${entry.requesters.join(', ')}${input.commit ? `, commit ${input.commit}` : ''}; queue request ${entry.id}`,
      input.promote
        ? `promotion: the artifact that went live in the stage before (promotion.from)${input.artifactSha256 ? `, expected sha256 ${input.artifactSha256.slice(0, 12)}…` : ''}`
        : input.artifactSha256
          ? `artifact sha256 ${input.artifactSha256.slice(0, 12)}…`
          : 'no download: every node keeps this release',
    ].join('\n\n') + covers,
    memo: { request: requestKey(input), queue: { id: entry.id, requesters: entry.requesters, covers: entry.covers } },
    typedSearchAttributes: [
      { key: searchAttributes.environment, value: input.environment },
      { key: searchAttributes.release, value: entry.release },
      { key: searchAttributes.phase, value: 'verify' },
      { key: searchAttributes.requestedBy, value: input.requestedBy },
    ],
  };
}

/** Starts the child; one started outside the queue (an older client) is waited out first. */
export async function startDeployment(state: QueueState, entry: QueuedRequest): Promise<ChildWorkflowHandle<DeploymentWorkflow> | undefined> {
  const options = startOptions(entry);
  for (;;) {
    try {
      return await startChild<DeploymentWorkflow>('deployment', options);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
        state.ended({ ...finishedBase(entry, ''), status: 'failed', error: `could not start: ${describeFailure(err)}` });
        return undefined;
      }
      state.hold = { kind: 'outside', what: `${options.workflowId} was started outside the queue and is still running`, clears: 'it ends (or `gantry abort` it)' };
      state.record(`waiting for ${options.workflowId}, started outside the queue, to end before ${entry.id}`);
      await queueWaits.awaitDeploymentClosed({ workflowId: options.workflowId });
    }
  }
}

const finishedBase = (entry: QueuedRequest, runId: string) => ({
  id: entry.id,
  release: entry.release,
  kind: entry.kind,
  workflowId: deploymentWorkflowId(entry.input.environment),
  runId,
  endedAt: '',
});

/** The child's outcome as the queue records it: its result, the one its failure carries, or how it ended without one. */
export async function outcomeOf(entry: QueuedRequest, child: ChildWorkflowHandle<DeploymentWorkflow>): Promise<FinishedRequest> {
  const base = finishedBase(entry, child.firstExecutionRunId);
  const done = (rest: Pick<FinishedRequest, 'status'> & { error?: string }): FinishedRequest => ({ ...base, ...rest, endedAt: new Date().toISOString() });
  try {
    const result = await child.result();
    return done({ status: result.status, ...(result.error ? { error: result.error } : {}) });
  } catch (err) {
    const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
    const recorded = cause instanceof ApplicationFailure ? (cause.details?.[0] as DeployResult | undefined) : undefined;
    if (recorded?.status) return done({ status: recorded.status, ...(recorded.error ? { error: recorded.error } : {}) });
    if (cause instanceof CancelledFailure) return done({ status: 'aborted', error: 'the workflow was cancelled' });
    return done({ status: cause instanceof ApplicationFailure ? 'failed' : 'ended', error: describeFailure(err) });
  }
}
