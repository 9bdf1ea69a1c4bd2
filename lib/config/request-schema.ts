// A deployment request as it arrives from any client (CLI, webhook, `temporal workflow start`): only
// names and a digest. Strict, so a request that tries to carry policy (an environment object, nodes,
// commands) is refused instead of quietly ignored.
import { z } from 'zod';
import { identifier, isSha256, isValidReleaseId } from './environment-schema';
import { strictObject } from './strict';

export const deployRequestSchema = strictObject({
  environment: z.string({ error: 'expected the environment\'s name, e.g. "prod"; its definition lives with the orchestrator' }).pipe(identifier),
  release: z.string().refine(isValidReleaseId, 'use letters, digits, ".", "_" or "-" (e.g. v1.4.2)'),
  commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'expected 7 to 40 lowercase hex digits').optional(),
  artifactSha256: z.string().refine(isSha256, "expected the artifact's sha256 as 64 lowercase hex digits (e.g. from `sha256sum app.tgz`)").optional(),
  requestedBy: z.string().trim().min(1, 'who asks for this deployment'),
  kind: z.enum(['deploy', 'rollback']).optional(),
  /** gantry repair: a rollback to `release` that changes only the nodes off the invariant, and no schema. */
  repair: z.literal(true).optional(),
  /** gantry promote: the artifact that went live in the definition's promotion.from (artifactSha256, when given, must be that one). */
  promote: z.literal(true).optional(),
  shape: strictObject({ inlineBatch: z.number(), groupSize: z.number(), groupsAtOnce: z.number() }).optional(),
});

export type DeployRequestInput = z.output<typeof deployRequestSchema>;
