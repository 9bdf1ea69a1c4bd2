// The queue's messages checked in their validators (synchronous, before anything enters history):
// a malformed request, lock or freeze is refused naming the field and the fix.
import { ApplicationFailure } from '@temporalio/workflow';
import { z } from 'zod';
import { describeIssues } from '../../lib/config/environment-rules';
import { deployRequestSchema } from '../../lib/config/request-schema';
import { strictObject } from '../../lib/config/strict';
import { failureTypes } from '../../lib/core/failure-types';
import type { DeployInput } from '../api';
import type { FreezePayload, LockPayload, UnlockPayload } from '../queue-api';

const by = z.string().trim().min(1, 'by is required: who asks');
const reason = z.string().trim().min(1, 'reason is required: say why, it is what `gantry why` shows').max(500);
const future = (field: string) =>
  z.iso.datetime({ offset: true, error: `${field}: expected an ISO time such as 2026-12-24T18:00:00Z` }).refine((t) => Date.parse(t) > Date.now(), `${field}: that time has passed`);

const lockPayload = strictObject({ by, reason, expiresAt: future('expiresAt').optional() });
const freezePayload = strictObject({ by, reason, until: future('until') });
const unlockPayload = strictObject({ by });

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`invalid ${what}:\n${describeIssues(parsed.error)}`, failureTypes.invalidInput);
  return parsed.data;
}

export const validateLock = (p: LockPayload) => void check(lockPayload, p, 'lock');
export const validateFreeze = (p: FreezePayload) => void check(freezePayload, p, 'freeze');
export const validateUnlock = (p: UnlockPayload) => void check(unlockPayload, p, 'unlock');

/** A request for this queue's environment, in the shape any deployment accepts. */
export function validateRequest(environment: string) {
  return (request: DeployInput) => {
    const parsed = check(deployRequestSchema, request, 'request');
    if (parsed.environment !== environment) {
      throw ApplicationFailure.nonRetryable(`environment: this is the queue of ${environment}, not ${parsed.environment}`, failureTypes.invalidInput);
    }
    if (parsed.kind !== 'rollback' && parsed.artifactSha256 === undefined && !parsed.promote) {
      throw ApplicationFailure.nonRetryable('artifactSha256 is required: the sha256 of the artifact to deploy', failureTypes.invalidInput);
    }
    if (parsed.kind === 'rollback' && parsed.artifactSha256 !== undefined) {
      throw ApplicationFailure.nonRetryable('artifactSha256: a rollback downloads nothing; leave it out', failureTypes.invalidInput);
    }
  };
}
