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
  acceptUncheckedSignal,
  acceptUncheckedUpdate,
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
    // The authors of the changes going out answer for them, on or off the list (approval.requireAuthors).
    if (state.isAuthor(by)) return undefined;
    const approvers = approversOf(env);
    const authors = state.changeAuthors().authors.map((a) => a.principal);
    const orAuthor = authors.length ? ` and not an author of the changes (${authors.join(', ')})` : '';
    if (approvers && !approvers.includes(by)) return `${by} is not an approver of ${env.name} (approvers: ${approvers.join(', ') || 'nobody: the groups named are empty'})${orAuthor}`;
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

  register(acceptUncheckedSignal, acceptUncheckedUpdate, state, {
    name: 'accept-unchecked',
    schema: abortPayload,
    mustSign: control?.requireSigned === true,
    check: (_, by) => {
      if (state.uncheckedAcceptance) return `already accepted by ${state.uncheckedAcceptance.by}`;
      if (!state.ciUnavailable) return 'the CI checks are not unreadable: nothing to accept (pending or failing checks are never skipped; wait for them, or fix them)';
      return closed() ?? mayControl('accept unchecked CI for', by);
    },
    apply: ({ reason }, by) => state.acceptUnchecked(by, reason),
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
    // The principal behind the name (aliases); a signed message must also be signed by that name's key (below).
    const by = principalOf(env, parsed.data.by);
    if (!parsed.data.signature && message.mustSign) {
      return {
        ok: false,
        why: `${by}'s ${message.name} is not signed, and ${env.name} counts only signed ones: run gantry ${message.name} ${env.name} --as ${by} --key ~/.ssh/id_ed25519 (or with the key in ssh-agent)`,
      };
    }
    const why = message.check(parsed.data, by);
    return why === undefined ? { ok: true, payload: parsed.data, by } : { ok: false, why };
  };

  /**
   * The last checks and the change, in one synchronous step: two messages verified in the same
   * workflow task cannot both pass "already approved" or the nonce check. Returns why not, or undefined.
   */
  const accept = (decision: { payload: T; by: string }, proof?: VerifiedProof): string | undefined => {
    if (proof) {
      if (proof.principal !== decision.payload.by) return `the statement is signed by ${proof.principal} but the message says ${decision.payload.by}`;
      if (state.nonceUsed(proof.nonce)) return `${decision.by}'s signed ${message.name} was already used (nonce ${proof.nonce}); sign a new statement`;
      const sameKey = message.name === 'approve' ? state.approvals.find((a) => a.fingerprint === proof.fingerprint) : undefined;
      if (sameKey) return `key ${proof.fingerprint} already approved as ${sameKey.by}; each key counts once`;
    }
    const why = message.check(decision.payload, decision.by);
    if (why !== undefined) return why;
    message.apply(decision.payload, decision.by, proof);
    return undefined;
  };

  setHandler(signal, async (raw) => {
    const decision = decide(raw);
    if (!decision.ok) return state.record(`rejected ${message.name} signal: ${decision.why}`, whoOf(raw));
    const signed = decision.payload.signature;
    // Unsigned: applied at once, as before signatures existed (the same commands on replay).
    let why: string | undefined;
    if (!signed) why = accept(decision);
    else {
      try {
        why = accept(decision, await verify(state, message.name, signed));
      } catch (err) {
        // Never rethrown: a signal handler's error would fail the whole deployment, skipping compensation.
        why = (err as Error).message;
      }
    }
    if (why !== undefined) state.record(`rejected ${message.name} signal: ${why}`, decision.by);
  });

  setHandler(
    update,
    async (raw) => {
      const decision = decide(raw);
      if (!decision.ok) throw refusal(decision.why);
      const signed = decision.payload.signature;
      let proof: VerifiedProof | undefined;
      if (signed) {
        try {
          proof = await verify(state, message.name, signed);
        } catch (err) {
          // verify() turns every failure into an ApplicationFailure: the update fails, the workflow goes on.
          state.record(`rejected ${message.name}: ${(err as Error).message}`, decision.by);
          throw err;
        }
      }
      const why = accept(decision, proof);
      if (why !== undefined) {
        if (proof) state.record(`rejected ${message.name}: ${why}`, decision.by);
        throw refusal(why);
      }
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

type VerifiedProof = Proof & { principal: string };

/** The orchestrator's verdict on a signed statement; any failure (a refusal, a time-out) comes back as an ApplicationFailure with its reason. */
async function verify(state: DeploymentState, action: OperatorActionName, signed: SignedStatement): Promise<VerifiedProof> {
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
    const detail = err instanceof ActivityFailure && err.cause ? `${err.message}: ${err.cause.message}` : err instanceof Error ? err.message : String(err);
    throw refusal(`the signature could not be checked (${detail}); send it again`);
  }
}

const refusal = (message: string, type: string = failureTypes.signatureRefused) => ApplicationFailure.nonRetryable(message, type);

function whoOf(raw: unknown): string | undefined {
  const by = (raw as { by?: unknown } | null)?.by;
  return typeof by === 'string' && by.trim() !== '' ? by : undefined;
}
