// approve / abort / pause / resume, as signals and as updates. One check per message decides; a
// rejected update throws (the caller sees why at once), a rejected signal is recorded and changes nothing.
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
import { describeIssues } from '../../lib/config/environment-rules';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  type DeployStatus,
} from '../api';
import type { DeploymentState } from './state';
import { abortPayload, approvePayload, operatorPayload } from './operator-payloads';

interface Message<T> {
  name: string;
  schema: z.ZodType<T>;
  /** Why the message cannot be accepted now, or undefined when it can. */
  check: (payload: T) => string | undefined;
  apply: (payload: T) => void;
}

/** Registers the status query and every operator message. `onAbort` stops forward progress. */
export function handleOperatorMessages(state: DeploymentState, onAbort: () => void): void {
  setHandler(statusQuery, () => state.status());
  const policy = state.input.environment.approval;
  const closed = () => (state.finished ? `the deployment already ended ${state.phase}` : undefined);

  register(approveSignal, approveUpdate, state, {
    name: 'approve',
    schema: approvePayload,
    check: ({ by }) => {
      if (state.phase !== 'awaiting-approval') return `nothing awaits approval: the deployment is in phase ${state.phase}`;
      if (!policy) return 'this environment does not take approvals';
      if (policy.approvers.length > 0 && !policy.approvers.includes(by)) {
        return `${by} is not an approver of ${state.input.environment.name} (approvers: ${policy.approvers.join(', ')})`;
      }
      if (by === state.input.requestedBy && !policy.allowSelfApproval) {
        return `${by} requested this deployment and may not approve it (allowSelfApproval is false)`;
      }
      if (state.approvals.some((a) => a.by === by)) return `${by} has already approved; each approver counts once`;
      return undefined;
    },
    apply: ({ by, comment }) => state.approve(by, comment),
  });

  register(abortSignal, abortUpdate, state, {
    name: 'abort',
    schema: abortPayload,
    check: () => {
      if (state.phase === 'rolling-back') return 'the deployment is already rolling back';
      if (state.abortRequest) return `already aborted by ${state.abortRequest.by}`;
      return closed();
    },
    apply: ({ by, reason }) => {
      state.requestAbort(by, reason);
      onAbort();
    },
  });

  register(pauseSignal, pauseUpdate, state, {
    name: 'pause',
    schema: operatorPayload,
    check: () => closed() ?? (state.pausedBy ? `already paused by ${state.pausedBy}` : undefined),
    apply: ({ by }) => state.pause(by),
  });

  register(resumeSignal, resumeUpdate, state, {
    name: 'resume',
    schema: operatorPayload,
    check: () => closed() ?? (state.pausedBy ? undefined : 'the deployment is not paused'),
    apply: ({ by }) => state.resume(by),
  });
}

function register<T>(
  signal: SignalDefinition<[T]>,
  update: UpdateDefinition<DeployStatus, [T]>,
  state: DeploymentState,
  message: Message<T>,
): void {
  const decide = (raw: unknown): { ok: true; payload: T } | { ok: false; why: string } => {
    const parsed = message.schema.safeParse(raw);
    if (!parsed.success) return { ok: false, why: `invalid ${message.name} payload: ${describeIssues(parsed.error)}` };
    const why = message.check(parsed.data);
    return why === undefined ? { ok: true, payload: parsed.data } : { ok: false, why };
  };

  setHandler(signal, (raw) => {
    const decision = decide(raw);
    if (decision.ok) message.apply(decision.payload);
    else state.record(`rejected ${message.name} signal: ${decision.why}`, whoOf(raw));
  });

  setHandler(
    update,
    (raw) => {
      const decision = decide(raw);
      // The validator already accepted it; state cannot have changed in between.
      if (decision.ok) message.apply(decision.payload);
      return state.status();
    },
    {
      validator: (raw) => {
        const decision = decide(raw);
        if (!decision.ok) throw new Error(decision.why);
      },
    },
  );
}

function whoOf(raw: unknown): string | undefined {
  const by = (raw as { by?: unknown } | null)?.by;
  return typeof by === 'string' && by.trim() !== '' ? by : undefined;
}
