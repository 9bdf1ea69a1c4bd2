// What operators send (approve, abort, pause, resume), checked with zod at the boundary: by the CLI
// before sending, and by the deployment workflow when a signal or update arrives.
import { z } from 'zod';
import type { AbortPayload, ApprovePayload, OperatorPayload, RejectPayload, SignedStatement } from '../api';

const signature: z.ZodType<SignedStatement> = z.strictObject({
  statement: z.string().min(2).max(8_000),
  signature: z.string().regex(/^-----BEGIN SSH SIGNATURE-----\n[\s\S]+\n-----END SSH SIGNATURE-----\n?$/, 'expected the armored output of ssh-keygen -Y sign').max(8_000),
});

export const approvePayload: z.ZodType<ApprovePayload> = z.object({
  by: z.string().trim().min(1, 'by is required: who approves'),
  comment: z.string().max(2000).optional(),
  signature: signature.optional(),
});
export const abortPayload: z.ZodType<AbortPayload> = z.object({
  by: z.string().trim().min(1, 'by is required: who aborts'),
  reason: z.string().trim().min(1, 'reason is required: why the deployment is aborted').max(2000),
  signature: signature.optional(),
});
export const rejectPayload: z.ZodType<RejectPayload> = z.object({
  by: z.string().trim().min(1, 'by is required: who rejects'),
  reason: z.string().trim().min(1, 'reason is required: why the release is rejected').max(2000),
  signature: signature.optional(),
});
export const operatorPayload: z.ZodType<OperatorPayload> = z.object({ by: z.string().trim().min(1, 'by is required: who asks'), signature: signature.optional() });
