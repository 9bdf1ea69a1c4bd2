// Rules about an environment that need no schema library: workflow code imports these, and keeping zod
// out of the workflow bundle's shared modules spares every workflow instance building its schemas.
import type { ZodError } from 'zod';
import type { NodeConfig } from './environment-schema';

/** A release id is also a folder name on every node. */
export const isValidReleaseId = (release: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(release);
export const isSha256 = (value: string) => /^[0-9a-f]{64}$/.test(value);

/**
 * "path.to[0].field: message" lines, one per issue: what a user needs to fix the file. An unknown key
 * gets its own line with the key in the path ("loadBalancer.drainTimout: unknown key; did you mean …").
 */
export function describeIssues(error: ZodError): string {
  return error.issues
    .flatMap((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        '',
      );
      if (issue.code === 'unrecognized_keys') return issue.message.split('\n').map((line) => (path ? `${path}.${line}` : line));
      return [`${path || '(top level)'}: ${issue.message}`];
    })
    .join('\n');
}

export function serverName(node: NodeConfig): string {
  return node.server ?? node.id;
}
