// What operators send (approve, abort, pause, resume), checked with zod at the boundary: by the CLI
// before sending, and by the deployment workflow when a signal or update arrives.
import { z } from 'zod';
import type { AbortPayload, ApprovePayload, OperatorPayload } from '../api';

export const approvePayload: z.ZodType<ApprovePayload> = z.object({
  by: z.string().trim().min(1, 'by is required: who approves'),
  comment: z.string().max(2000).optional(),
});
export const abortPayload: z.ZodType<AbortPayload> = z.object({
  by: z.string().trim().min(1, 'by is required: who aborts'),
  reason: z.string().trim().min(1, 'reason is required: why the deployment is aborted').max(2000),
});
export const operatorPayload: z.ZodType<OperatorPayload> = z.object({ by: z.string().trim().min(1, 'by is required: who asks') });
