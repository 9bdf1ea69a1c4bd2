// `gantry list [--env] [--phase]`: deployments found through Gantry's search attributes.
import { z } from 'zod';
import { connectClient } from '../../client/connection';
import { CliExit, ExitCode } from '../exit-codes';

const filters = z.object({
  env: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected an environment name').optional(),
  phase: z.string().regex(/^[a-z-]+$/, 'expected a phase such as rollout, live, failed').optional(),
  limit: z.number().int().positive().default(20),
  json: z.boolean().default(false),
});

/** The visibility query: `GantryEnvironment = "prod" AND GantryPhase = "live"`, newest first. */
export function listQuery(env?: string, phase?: string): string {
  const parts = ['GantryEnvironment IS NOT NULL'];
  if (env) parts.push(`GantryEnvironment = "${env}"`);
  if (phase) parts.push(`GantryPhase = "${phase}"`);
  return parts.join(' AND ');
}

export async function listCommand(raw: { env?: string; phase?: string; limit?: number; json?: boolean }): Promise<number> {
  const parsed = filters.safeParse(raw);
  if (!parsed.success) throw new CliExit(`--${String(parsed.error.issues[0]!.path[0])}: ${parsed.error.issues[0]!.message}`, ExitCode.rejected);
  const { env, phase, limit, json } = parsed.data;
  const { client, close } = await connectClient();
  try {
    const rows: Record<string, unknown>[] = [];
    for await (const run of client.workflow.list({ query: listQuery(env, phase), pageSize: limit })) {
      const attrs = run.typedSearchAttributes;
      const get = (name: string) => attrs.getAll().find((p) => p.key.name === name)?.value as string | undefined;
      rows.push({
        workflowId: run.workflowId,
        runId: run.runId,
        environment: get('GantryEnvironment'),
        release: get('GantryRelease'),
        phase: get('GantryPhase'),
        requestedBy: get('GantryRequestedBy'),
        status: run.status.name,
        started: run.startTime.toISOString(),
      });
      if (rows.length >= limit) break;
    }
    if (json) console.log(JSON.stringify(rows));
    else for (const r of rows) console.log(`${String(r.started)}  ${String(r.environment).padEnd(12)} ${String(r.release).padEnd(12)} ${String(r.phase).padEnd(18)} ${String(r.requestedBy).padEnd(12)} ${String(r.status)}`);
    return ExitCode.ok;
  } finally {
    await close();
  }
}
