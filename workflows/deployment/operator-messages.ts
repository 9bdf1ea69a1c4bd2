// approve / reject / abort / pause / resume, as signals and as updates. One check per message decides
// who may send it now; a signed message is verified by an activity (ssh-keygen on the orchestrator)
// before it counts. A rejected update throws (the caller sees why at once); a rejected signal is
// recorded and changes nothing.
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { ControlPolicy } from '../../lib/config/environment-schema';
import { describeIssues } from '../../lib/config/environment-rules';
import { failureTypes } from '../../lib/core/failure-types';
import { approversOf, controllersOf, principalOf } from '../../lib/identity/policy';
import type { OperatorActionName } from '../../lib/identity/statement';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  rejectSignal,
  rejectUpdate,
  resumeSignal,
  resumeUpdate,
  statusQuery,
  type DeployStatus,
  type SignedStatement,
} from '../api';
import { signatures } from '../common/proxies';
import type { DeploymentState, Proof } from './state';
import { abortPayload, approvePayload, operatorPayload, rejectPayload } from './operator-payloads';

interface Signed {
  by: string;
  signature?: SignedStatement;
}

interface Message<T extends Signed> {
  name: OperatorActionName;
  schema: z.ZodType<T>;
  /** Why `by` cannot send this message now, or undefined when they can. */
  check: (payload: T, by: string) => string | undefined;
  /** The definition asks for a signature on this message. */
  mustSign: boolean;
  apply: (payload: T, by: string, proof: Proof | undefined) => void;
}

/** Registers the status query and every operator message. `onAbort` stops forward progress. */
export function handleOperatorMessages(state: DeploymentState, onAbort: () => void): void {
  setHandler(statusQuery, () => state.status());
  const env = state.input.environment;
  const policy = env.approval;
  // Histories from before control lists had none: everyone could send these.
  const control = env.control as ControlPolicy | undefined;
  const closed = () => (state.finished ? `the deployment already ended ${state.phase}` : undefined);
  const mayControl = (action: string, by: string) => {
    const allowed = control ? controllersOf(env, state.input.requestedBy) : undefined;
    if (!allowed) return undefined;
    return allowed.includes(by) ? undefined : `${by} may not ${action} deployments of ${env.name} (control.allowed: ${allowed.join(', ') || 'nobody'})`;
  };
  const approvalCheck = (verb: string) => (by: string) => {
    if (state.phase !== 'awaiting-approval') return `nothing awaits approval: the deployment is in phase ${state.phase}`;
    if (!policy) return 'this environment does not take approvals';
    const approvers = approversOf(env);
    if (approvers.length > 0 && !approvers.includes(by)) return `${by} is not an approver of ${env.name} (approvers: ${approvers.join(', ')})`;
    if (by === principalOf(env, state.input.requestedBy) && !policy.allowSelfApproval) {
      return `${by} requested this deployment and may not ${verb} it (allowSelfApproval is false)`;
    }
    return undefined;
  };

  register(approveSignal, approveUpdate, state, {
    name: 'approve',
    schema: approvePayload,
    mustSign: policy?.requireSigned === true,
    check: (_, by) => approvalCheck('approve')(by) ?? (state.approvals.some((a) => a.by === by) ? `${by} has already approved; each approver counts once` : undefined),
    apply: ({ comment }, by, proof) => state.approve(by, comment, proof),
  });

  register(rejectSignal, rejectUpdate, state, {
    name: 'reject',
    schema: rejectPayload,
    mustSign: policy?.requireSigned === true,
    check: (_, by) => approvalCheck('reject')(by) ?? (state.abortRequest ? `already aborted by ${state.abortRequest.by}` : undefined),
    apply: ({ reason }, by, proof) => {
      state.requestAbort(by, `rejected: ${reason}`, proof, 'release rejected');
      onAbort();
    },
  });

  register(abortSignal, abortUpdate, state, {
    name: 'abort',
    schema: abortPayload,
    mustSign: control?.requireSigned === true,
    check: (_, by) => {
      if (state.phase === 'rolling-back') return 'the deployment is already rolling back';
      if (state.abortRequest) return `already aborted by ${state.abortRequest.by}`;
      return closed() ?? mayControl('abort', by);
    },
    apply: ({ reason }, by, proof) => {
      state.requestAbort(by, reason, proof);
      onAbort();
    },
  });

  register(pauseSignal, pauseUpdate, state, {
    name: 'pause',
    schema: operatorPayload,
    mustSign: control?.requireSigned === true,
    check: (_, by) => closed() ?? (state.pausedBy ? `already paused by ${state.pausedBy}` : mayControl('pause', by)),
    apply: (_, by, proof) => state.pause(by, proof),
  });

  register(resumeSignal, resumeUpdate, state, {
    name: 'resume',
    schema: operatorPayload,
    mustSign: control?.requireSigned === true,
    check: (_, by) => closed() ?? (state.pausedBy ? mayControl('resume', by) : 'the deployment is not paused'),
    apply: (_, by, proof) => state.resume(by, proof),
  });
}

type Decision<T> = { ok: true; payload: T; by: string } | { ok: false; why: string };

function register<T extends Signed>(
  signal: SignalDefinition<[T]>,
  update: UpdateDefinition<DeployStatus, [T]>,
  state: DeploymentState,
  message: Message<T>,
): void {
  const env = state.input.environment;
  const decide = (raw: unknown): Decision<T> => {
    const parsed = message.schema.safeParse(raw);
    if (!parsed.success) return { ok: false, why: `invalid ${message.name} payload: ${describeIssues(parsed.error)}` };
    // A signed message is by its signer (checked below); an unsigned one by the name given, mapped through aliases.
    const by = parsed.data.signature ? parsed.data.by : principalOf(env, parsed.data.by);
    if (!parsed.data.signature && message.mustSign) {
      return {
        ok: false,
        why: `${by}'s ${message.name} is not signed, and ${env.name} counts only signed ones: run gantry ${message.name} ${env.name} --as ${by} --key ~/.ssh/id_ed25519 (or with the key in ssh-agent)`,
      };
    }
    const why = message.check(parsed.data, by);
    return why === undefined ? { ok: true, payload: parsed.data, by } : { ok: false, why };
  };

  /** Verifies the signature when there is one; afterwards the message is checked again (state may have moved on meanwhile). */
  const prove = async (decision: { payload: T; by: string }): Promise<Proof | undefined> => {
    const signed = decision.payload.signature;
    if (!signed) return undefined;
    const proof = await verify(state, message.name, signed);
    if (proof.principal !== decision.by) throw refusal(`the statement is signed by ${proof.principal} but the message says ${decision.by}`);
    if (state.nonceUsed(proof.nonce)) throw refusal(`${decision.by}'s signed ${message.name} was already used (nonce ${proof.nonce}); sign a new statement`);
    const why = message.check(decision.payload, decision.by);
    if (why !== undefined) throw refusal(why);
    return proof;
  };

  setHandler(signal, async (raw) => {
    const decision = decide(raw);
    if (!decision.ok) return state.record(`rejected ${message.name} signal: ${decision.why}`, whoOf(raw));
    // Unsigned: applied at once, as before signatures existed (the same commands on replay).
    if (!decision.payload.signature) return message.apply(decision.payload, decision.by, undefined);
    try {
      message.apply(decision.payload, decision.by, await prove(decision));
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      state.record(`rejected ${message.name} signal: ${err.message}`, decision.by);
    }
  });

  setHandler(
    update,
    async (raw) => {
      const decision = decide(raw);
      if (!decision.ok) throw refusal(decision.why);
      const proof = await prove(decision).catch((err: unknown) => {
        if (err instanceof ApplicationFailure) state.record(`rejected ${message.name}: ${err.message}`, decision.by);
        throw err;
      });
      message.apply(decision.payload, decision.by, proof);
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

/** The orchestrator's verdict on a signed statement; a refusal comes back as an ApplicationFailure with its reason. */
async function verify(state: DeploymentState, action: OperatorActionName, signed: SignedStatement): Promise<Proof & { principal: string }> {
  const { input } = state;
  const identity = input.environment.identity;
  if (!identity) throw refusal(`${input.environment.name} has no identity section, so no signature can be checked; send the ${action} unsigned or add identity.allowedSigners`);
  if (!input.plan) throw refusal('this deployment started before signed statements existed; send it unsigned');
  const info = workflowInfo();
  try {
    const verified = await signatures.verifyStatement({
      identity,
      statement: signed.statement,
      signature: signed.signature,
      expected: {
        environment: input.environment.name,
        workflowId: info.workflowId,
        runId: info.runId,
        action,
        release: input.release,
        commit: state.commit,
        artifactSha256: input.artifact?.sha256 ?? null,
        planHash: input.plan.hash,
      },
    });
    return { principal: verified.principal, fingerprint: verified.fingerprint, statementSha256: verified.statementSha256, nonce: verified.statement.nonce };
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw refusal(err.cause.message, err.cause.type ?? undefined);
    throw err;
  }
}

const refusal = (message: string, type: string = failureTypes.signatureRefused) => ApplicationFailure.nonRetryable(message, type);

function whoOf(raw: unknown): string | undefined {
  const by = (raw as { by?: unknown } | null)?.by;
  return typeof by === 'string' && by.trim() !== '' ? by : undefined;
}
