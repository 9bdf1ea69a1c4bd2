// The environment definition's schema: what the orchestrator's own definitions say about one fleet
// (nodes, load balancer, policy). Pure zod, no Node imports. Every object is strict: an unknown key
// is refused with the nearest valid one. What a node may run lives in its own config (node-config.ts).
import { z } from 'zod';
import { blueGreenSchema, checkBlueGreen } from './blue-green-schema';
import { duration, hostPort, id } from './primitives';
import { queueSchema, windowSchema } from './queue-schema';
import { strictObject } from './strict';

export const nodeSchema = strictObject({
  id,
  /** host:port where the app answers; health checks go here. */
  address: hostPort,
  /** The server's name in the load balancer's backend; defaults to the node id. */
  server: z.string().min(1).optional(),
});

/** How long the orchestrator allows a node's app to stop and start; the command itself is the node's. */
export const appSchema = strictObject({
  stopGrace: duration.default(10_000),
  startTimeout: duration.default(30_000),
});

export const loadBalancerSchema = strictObject({
  type: z.literal('haproxy'),
  /** Runtime API: a unix socket path, or host:port for a TCP stats socket. */
  socket: z.string().min(1),
  backend: z.string().min(1),
  drainTimeout: duration.default(60_000),
  /** At the drain deadline: end the sessions still open (long-lived clients), or fail the node. */
  onDrainTimeout: z.enum(['shutdown-sessions', 'fail']).default('shutdown-sessions'),
  pollInterval: duration.default(250),
  /** The backend's servers use an HAProxy agent-check: Gantry turns it off while it works on a node. */
  agentCheck: z.boolean().default(false),
});

const percent = z.string().regex(/^(100|[1-9]\d?)%$/, 'expected a percentage from 1% to 100%, e.g. "25%"');

export const rolloutSchema = strictObject({
    /** Nodes per batch: a count, or a percentage of the fleet such as "25%". */
    batchSize: z.union([z.number().int().positive(), percent]).default(1),
    /** At most this many nodes of a batch out of rotation at once (a count or a percentage); default: the whole batch. */
    maxUnavailable: z.union([z.number().int().positive(), percent]).optional(),
    /** Wait this long between batches (watch the dashboards); default none. */
    pauseBetweenBatches: duration.optional(),
  });

export const healthCheckSchema = strictObject({
  path: z.string().startsWith('/', 'expected a path starting with "/"').default('/healthz'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** When true the JSON body's `release` field must equal the release being deployed. */
  reportsRelease: z.boolean().default(false),
  interval: duration.default(1_000),
  successThreshold: z.number().int().positive().default(2),
  requestTimeout: duration.default(2_000),
  deadline: duration.default(60_000),
});

export const sourceSchema = strictObject({
    /** The canonical git remote: a URL or a path to a repository. */
    remote: z.string().min(1),
    /** Which tags may be deployed: `*` any run of characters, `?` one. */
    tagPattern: z.string().min(1).default('*'),
    requireSignedTag: z.boolean().default(false),
    /** SSH signatures: an allowed-signers file (gpg.ssh.allowedSignersFile) on the orchestrator worker. */
    allowedSignersFile: z.string().min(1).optional(),
    /** GPG signatures: a GNUPGHOME holding the trusted keys, on the orchestrator worker. */
    gpgHome: z.string().min(1).optional(),
    /** The signed tag's message carries `artifact-sha256: <hex>`, and only that artifact may go out. */
    artifactDigestInTag: z.boolean().default(false),
    /** How long a remote that refuses connections or does not resolve is retried before the deployment fails. */
    unreachableTimeout: duration.default(180_000),
  })
  .superRefine((source, ctx) => {
    if (source.requireSignedTag && !source.allowedSignersFile && !source.gpgHome) {
      ctx.addIssue({ code: 'custom', path: ['requireSignedTag'], message: 'needs trusted keys: set allowedSignersFile (SSH) or gpgHome (GPG)' });
    }
    if (source.artifactDigestInTag && !source.requireSignedTag) {
      ctx.addIssue({ code: 'custom', path: ['artifactDigestInTag'], message: 'only a signed tag can vouch for the artifact: set requireSignedTag: true' });
    }
  });

export const artifactSchema = strictObject({
  /** file:// or http(s):// URL; "{release}" is replaced with the release being deployed. */
  url: z.string().min(1).optional(),
  /** How long an artifact host that refuses connections or does not resolve is retried (on the orchestrator and on each node). */
  unreachableTimeout: duration.default(180_000),
});

/** A token may leave the worker only over TLS, or to a server on this machine. */
function isTokenSafeUrl(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');

export const ciSchema = z.discriminatedUnion('provider', [
  strictObject({ provider: z.literal('none') }),
  strictObject({
      provider: z.literal('github'),
      repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected owner/name'),
      /** Receives the token: https, or plain http to this machine's loopback only (a local test server). */
      apiUrl: z
        .url({ protocol: /^https?$/ })
        .refine(isTokenSafeUrl, 'the token only goes over https (plain http only to 127.0.0.1, ::1 or localhost)')
        .default('https://api.github.com'),
      /** Names of statuses or check runs that must succeed; empty: every reported one must. */
      requiredChecks: z.array(z.string().min(1)).default([]),
      /** Without required checks a commit with no check reported waits for one (and fails at the deadline); true passes it: the repository has no CI. */
      allowNoChecks: z.boolean().default(false),
      /** The worker reads the token from this variable when it asks; it never enters history. */
      tokenEnv: envName.default('GITHUB_TOKEN'),
      deadline: duration.default(900_000),
      pollInterval: duration.default(10_000),
      /**
       * GitHub's API down or unreachable: wait (keep asking until the deadline), or operator (the same,
       * and an operator may accept going on without the checks: gantry accept-unchecked, recorded in the result).
       */
      whenUnavailable: z.enum(['wait', 'operator']).default('wait'),
    }),
]);

export const notificationEvents = [
  'requested',
  'awaiting-approval',
  'approved',
  'approval-timed-out',
  'started',
  'batch-done',
  'switched',
  'switched-back',
  'succeeded',
  'failed',
  'rolled-back',
  'aborted',
  /** The queue: a pending request replaced by a newer one (latest-wins). */
  'superseded',
  /** The queue: the environment locked itself after a rollback. */
  'locked',
] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

/** Where a secret is read at send time: a variable of the worker's environment, or a file on it. */
export const secretRef = (what: string) =>
  strictObject({ fromEnv: envName.optional(), fromFile: z.string().min(1).optional() })
    .refine((ref) => (ref.fromEnv === undefined) !== (ref.fromFile === undefined), `${what}: set exactly one of fromEnv or fromFile`);

export const channelSchema = strictObject({
    type: z.enum(['slack', 'webhook']),
    /** The URL is a secret (a Slack webhook URL is a credential): never in the file itself. */
    url: secretRef('url'),
    /** Webhooks only: HMAC-SHA256 key for the X-Gantry-Signature-256 header. */
    secret: secretRef('secret').optional(),
    events: z.array(z.enum(notificationEvents)).min(1).default([...notificationEvents]),
  })
  .superRefine((channel, ctx) => {
    if (channel.type === 'slack' && channel.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'Slack webhooks are not signed; remove secret' });
  });

export const notificationsSchema = strictObject({
    /** Per attempt; a notification gets `attempts` tries, then it is given up and logged. */
    timeout: duration.default(3_000),
    attempts: z.number().int().min(1).max(5).default(3),
    channels: z.array(channelSchema).default([]),
  });

/** The orchestrator's migration policy; the commands are the runner node's own (node-config.ts). */
export const migrationsSchema = strictObject({
    /** The node whose agent runs migrations, once per deployment; defaults to the first node. */
    runner: id.optional(),
    /** A backup before expand: pg_dump of the runner's DATABASE_URL, or the node's own backup command. */
    backup: strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
    /** keep (expand is backward compatible), restore the backup, or run the node's down command. */
    onRollback: z.enum(['keep', 'restore', 'down']).default('keep'),
    /** downtime: for changes old releases cannot run on; traffic goes to the maintenance page meanwhile. */
    mode: z.enum(['online', 'downtime']).default('online'),
    timeout: duration.default(600_000),
  })
  .superRefine((m, ctx) => {
    if (m.onRollback === 'restore' && !m.backup.enabled) ctx.addIssue({ code: 'custom', path: ['backup', 'enabled'], message: 'onRollback "restore" needs a backup' });
  });

/** A principal's name, or "@group" for the members of an identity group (and "@requester", "@approvers" where a list allows them). */
const principalRef = z.string().trim().min(1);

/** Proven identities: operators sign statements with their SSH keys (ssh-keygen -Y sign), checked against this. */
export const identitySchema = strictObject({
  /** An OpenSSH allowed-signers file (principals, keys, namespaces=, valid-after=, valid-before=). */
  allowedSigners: z.string().min(1),
  /** sha256 of that file: a changed file is refused until the definition pins its new content (sha256sum <file>). */
  allowedSignersSha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the file\'s sha256 in lowercase hex (sha256sum <file>)'),
  /** Revoked public keys, one per line; read at every verification, so a revocation needs no definition change. */
  revokedKeys: z.string().min(1).optional(),
  /** The longest a signed statement may be valid (expiresAt − issuedAt). */
  maxStatementAge: duration.default(3_600_000),
  /** Requesters as other systems name them, mapped to principals ("github:alice": alice), so four-eyes holds for CI-started deployments. */
  aliases: z.record(z.string().min(1), z.string().trim().min(1)).default({}),
  /** Named groups of principals, for approval rules and control lists ("@sre"). */
  groups: z.record(id, z.array(z.string().trim().min(1)).min(1)).default({}),
});

export const approvalSchema = strictObject({
    required: z.boolean().default(true),
    /** Who may approve (names or "@group"); empty means anyone but (unless allowed) the requester. */
    approvers: z.array(principalRef).default([]),
    minApprovals: z.number().int().positive().default(1),
    /** Count only approvals signed by a key in identity.allowedSigners. */
    requireSigned: z.boolean().default(false),
    /** Per-group minima ("1 of sre and 1 of owners"); each approval counts toward one rule at most. */
    rules: z.array(strictObject({ group: id, min: z.number().int().positive() })).default([]),
    allowSelfApproval: z.boolean().default(false),
    /**
     * The authors of the commits going out must approve too, on top of the rules above: every one
     * (all), at least one (any), or none. An author's approval counts toward this even when they are
     * not on the approvers list or requested the deployment; toward minApprovals only when it would anyway.
     */
    requireAuthors: z.enum(['none', 'any', 'all']).default('none'),
    /** Git author emails mapped to principals ("alice@acme.com": alice); a change by an unmapped email fails the deployment before any node changes. */
    authors: z.record(z.string().trim().toLowerCase(), z.string().trim().min(1)).default({}),
    /** `gantry rollback` waits for approval too (by default a rollback goes at once: it is the way out). */
    forRollback: z.boolean().default(false),
    timeout: duration.default(3_600_000),
    at: z.enum(['before-rollout', 'after-first-batch']).default('before-rollout'),
  })
  .superRefine((a, ctx) => {
    for (const email of Object.keys(a.authors)) {
      if (!/^[^\s@<>]+@[^\s@<>]+$/.test(email)) ctx.addIssue({ code: 'custom', path: ['authors', email], message: `"${email}" is not a git author email: map emails as git log shows them, e.g. "alice@acme.com": alice` });
    }
    if (a.requireAuthors !== 'none' && Object.keys(a.authors).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['authors'], message: `requireAuthors: ${a.requireAuthors} needs the authors' git emails mapped to principals, e.g. authors: { "alice@acme.com": alice }` });
    }
    if (a.approvers.length > 0 && !a.approvers.some((r) => r.startsWith('@')) && a.minApprovals > a.approvers.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['minApprovals'],
        message: `${a.minApprovals} approvals can never be reached with ${a.approvers.length} approvers; lower minApprovals or add approvers`,
      });
    }
  });

/**
 * Configuration rendered on each node before it is activated: the release's templates (paths inside
 * the release ending .hbs) with what the fleet knows — environment, release, node, nodes, peers, pool
 * — and the service endpoints named here (a secret one by the variable that holds it on the node).
 */
export const configSchema = strictObject({
  templates: z
    .array(
      z
        .string()
        .regex(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))[\w./-]+\.hbs$/, 'expected a path inside the release ending .hbs, e.g. config/app.json.hbs (renders config/app.json)'),
    )
    .default([]),
  services: z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'expected a service name such as memcached or database'),
      z.union([z.string().min(1), strictObject({ fromNodeEnv: envName })], { error: 'expected a URL, or { fromNodeEnv: VAR } for a secret the node holds' }),
    )
    .default({}),
});

/** A stage of a pipeline: what `gantry promote` takes from, and how long it must have run there. */
export const promotionSchema = strictObject({
  /** The environment before this one (dev → staging → prod): a promotion deploys the artifact that went live there. */
  from: id,
  /** How long the release must have been live upstream, without being replaced, before it may come here. */
  bake: duration.default(0),
  /** Promote by itself: the newest release live upstream for `bake`, once, checked this often. */
  auto: z.boolean().default(false),
  checkEvery: duration.default(60_000),
});

/** Who may abort, pause or resume a running deployment, and whether they must sign. */
export const controlSchema = strictObject({
  /** Principals, "@group"s, "@requester" and "@approvers"; a missing "@operators" group is empty. */
  allowed: z.array(principalRef).min(1).default(['@requester', '@approvers', '@operators']),
  requireSigned: z.boolean().default(false),
});

export const environmentSchema = strictObject({
    name: id,
    nodes: z.array(nodeSchema).min(1, 'expected at least one node'),
    app: appSchema.default(() => appSchema.parse({})),
    loadBalancer: loadBalancerSchema,
    rollout: rolloutSchema.default({ batchSize: 1 }),
    healthCheck: healthCheckSchema.default(() => healthCheckSchema.parse({})),
    source: sourceSchema,
    artifact: artifactSchema.default(() => artifactSchema.parse({})),
    notifications: notificationsSchema.default(() => notificationsSchema.parse({})),
    ci: ciSchema.default({ provider: 'none' }),
    migrations: migrationsSchema.optional(),
    approval: approvalSchema.optional(),
    identity: identitySchema.optional(),
    control: controlSchema.default(() => controlSchema.parse({})),
    /** How releases reach traffic: absent or rolling (batches of nodes), or blue-green (two pools and a switch). */
    strategy: z.discriminatedUnion('type', [strictObject({ type: z.literal('rolling') }), blueGreenSchema]).optional(),
    /** What happens to requests that arrive while a deployment runs, and whether a rollback locks the environment. */
    queue: queueSchema.default(() => queueSchema.parse({})),
    /** When deployments may start (rollbacks always may); none: any time. */
    windows: z.array(windowSchema).default([]),
    /** Templates the agents render into the release folder before activation, and the service endpoints they may use. */
    config: configSchema.optional(),
    /** This environment is a stage of a pipeline: `gantry promote` brings what went live upstream. */
    promotion: promotionSchema.optional(),
  })
  .superRefine((env, ctx) => {
    if (env.promotion?.from === env.name) ctx.addIssue({ code: 'custom', path: ['promotion', 'from'], message: `an environment cannot promote from itself; name the stage before ${env.name}` });
    const seen = new Map<string, number>();
    env.nodes.forEach((node, i) => {
      for (const [key, value] of [['id', node.id], ['server', node.server ?? node.id]] as const) {
        const tag = `${key}:${value}`;
        const first = seen.get(tag);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['nodes', i, key], message: `duplicate ${key} "${value}" (also nodes[${first}])` });
        } else seen.set(tag, i);
      }
    });
    checkIdentityReferences(env, ctx);
    checkBlueGreen(env, ctx);
    const runner = env.migrations?.runner;
    if (runner !== undefined && !env.nodes.some((n) => n.id === runner)) {
      ctx.addIssue({ code: 'custom', path: ['migrations', 'runner'], message: `no node has id "${runner}"` });
    }
  });

const BUILT_IN_REFS = ['@requester', '@approvers', '@operators'];

/** Signing needs an identity section; every "@group" and rule names a group that exists. */
function checkIdentityReferences(env: { approval?: z.output<typeof approvalSchema>; identity?: z.output<typeof identitySchema>; control: z.output<typeof controlSchema> }, ctx: z.RefinementCtx): void {
  const groups = env.identity?.groups ?? {};
  const needsIdentity: [string[], boolean][] = [[['approval', 'requireSigned'], env.approval?.requireSigned === true], [['control', 'requireSigned'], env.control.requireSigned]];
  for (const [path, on] of needsIdentity) {
    if (on && !env.identity) ctx.addIssue({ code: 'custom', path, message: 'signatures need an identity section (identity.allowedSigners and identity.allowedSignersSha256)' });
  }
  const refs: [(string | number)[], string][] = [
    ...(env.approval?.approvers ?? []).map((r, i) => [['approval', 'approvers', i], r] as [(string | number)[], string]),
    ...env.control.allowed.map((r, i) => [['control', 'allowed', i], r] as [(string | number)[], string]),
  ];
  for (const [path, ref] of refs) {
    if (path[0] === 'approval' && BUILT_IN_REFS.slice(0, 2).includes(ref)) {
      ctx.addIssue({ code: 'custom', path, message: `${ref} cannot be an approver; name principals or identity groups` });
    } else if (ref.startsWith('@') && !(path[0] === 'control' && BUILT_IN_REFS.includes(ref)) && !(ref.slice(1) in groups)) {
      ctx.addIssue({ code: 'custom', path, message: `no identity group "${ref.slice(1)}" (groups: ${Object.keys(groups).join(', ') || 'none'})` });
    }
  }
  (env.approval?.rules ?? []).forEach((rule, i) => {
    if (!(rule.group in groups)) ctx.addIssue({ code: 'custom', path: ['approval', 'rules', i, 'group'], message: `no identity group "${rule.group}" (groups: ${Object.keys(groups).join(', ') || 'none'})` });
    else if (rule.min > groups[rule.group]!.length) ctx.addIssue({ code: 'custom', path: ['approval', 'rules', i, 'min'], message: `group ${rule.group} has ${groups[rule.group]!.length} member(s); ${rule.min} can never be reached` });
  });
}

export type EnvironmentInput = z.input<typeof environmentSchema>;
export type Environment = z.output<typeof environmentSchema>;
export type NodeConfig = Environment['nodes'][number];
export type HealthCheck = Environment['healthCheck'];
export type LoadBalancer = Environment['loadBalancer'];
export type ApprovalPolicy = NonNullable<Environment['approval']>;
export type Identity = NonNullable<Environment['identity']>;
export type ControlPolicy = Environment['control'];
export type Channel = Environment['notifications']['channels'][number];
export type CiConfig = Environment['ci'];
export type Migrations = NonNullable<Environment['migrations']>;
export type { DeployWindow, QueuePolicy, QueueSettings } from './queue-schema';
export type { BlueGreen, PoolName, SmokeCheck } from './blue-green-schema';

export { describeIssues, isSha256, isValidReleaseId, serverName } from './environment-rules';
export { envName, duration, id as identifier, hostPort };
