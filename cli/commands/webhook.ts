// `gantry webhook --port … --config …`: receives GitHub push (tag) and check_suite (completed, success)
// deliveries, checks X-Hub-Signature-256, maps repository + tag to an environment and puts the
// deployment on the environment's queue. Status codes say what happened, for GitHub's delivery log:
// 201 started, 202 queued (with its place and what holds it) or nothing to do, 200 this event's
// request already exists (a redelivery: the same delivery id, or the same release and sender),
// 400 malformed, 401 bad signature, 409 the queue refused it (full) or the release is older than the
// live one (going back is `gantry rollback`'s job), 413 too large, 422 the event is older than
// maxDeliveryAge, 502 the checksum file could not be read.
import type { Client } from '@temporalio/client';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readChecksumFile } from '../../lib/release/artifact';
import { GantryError } from '../../lib/core/errors';
import { remoteTagsAt } from '../../lib/source/git-mirror';
import { MalformedEvent, signatureValid, triggerOf } from '../../lib/webhook/github-events';
import type { Logger } from '../../lib/core/logger';
import { readSecret } from '../../lib/config/secrets';
import { formatDuration } from '../../lib/config/duration';
import semver from 'semver';
import { globToRegExp } from '../../lib/source/tag-verification';
import { loadWebhookConfig, type WebhookConfig } from '../../lib/webhook/config';
import { connectClient } from '../../client/connection';
import { deploymentWorkflowId, queueWorkflowId, searchAttributes } from '../../workflows/api';
import { CliExit, ExitCode } from '../exit-codes';
import { enqueue, RequestRefused } from '../../client/deployments';
import { prepareDeployment } from './deploy';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

class TooLarge extends Error {}

/** Deliveries that started (or found) a deployment, by X-GitHub-Delivery: a redelivery gets the same answer. */
class DeliveryLog {
  private readonly replies = new Map<string, Reply>();
  constructor(private readonly max = 10_000) {}
  get(id: string): Reply | undefined {
    return this.replies.get(id);
  }
  remember(id: string, reply: Reply): Reply {
    if (id && (reply.status === 200 || reply.status === 201)) {
      this.replies.set(id, reply);
      // Oldest first out: a Map iterates in insertion order.
      if (this.replies.size > this.max) this.replies.delete(this.replies.keys().next().value!);
    }
    return reply;
  }
}

export interface WebhookServer {
  url: string;
  close(): Promise<void>;
}

export async function startWebhookServer(options: {
  config: WebhookConfig;
  client: Client;
  taskQueue: string;
  logger: Logger;
  host?: string;
  port: number;
}): Promise<WebhookServer> {
  const { config, logger } = options;
  const deliveries = new DeliveryLog();
  const server: Server = createServer((req, res) => {
    const delivery = String(req.headers['x-github-delivery'] ?? '');
    const log = logger.child({ delivery, event: req.headers['x-github-event'] });
    handle(req, { ...options, deliveries }).then(
      (reply) => send(res, reply, log),
      (err: unknown) => send(res, { status: 500, body: { error: (err as Error).message } }, log),
    );
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, routes: config.routes.length }, 'webhook receiver listening');
  return {
    url: `http://${address}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(res: ServerResponse, reply: Reply, log: Logger): void {
  log.info({ status: reply.status, ...reply.body }, 'delivery handled');
  res.writeHead(reply.status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify(reply.body));
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > max) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function handle(
  req: IncomingMessage,
  { config, client, taskQueue, deliveries }: { config: WebhookConfig; client: Client; taskQueue: string; deliveries: DeliveryLog },
): Promise<Reply> {
  if (req.method !== 'POST') return { status: 405, body: { error: 'POST GitHub webhook deliveries here' } };
  let body: Buffer;
  try {
    body = await readBody(req, config.maxBodyBytes);
  } catch (err) {
    if (err instanceof TooLarge) return { status: 413, body: { error: `body larger than ${config.maxBodyBytes} bytes (maxBodyBytes)` } };
    throw err;
  }
  const signature = req.headers['x-hub-signature-256'];
  if (!signatureValid(body, typeof signature === 'string' ? signature : undefined, await readSecret(config.secret))) {
    return { status: 401, body: { error: 'X-Hub-Signature-256 missing or not the HMAC-SHA256 of the body under the configured secret' } };
  }
  const event = req.headers['x-github-event'];
  if (typeof event !== 'string' || !event) return { status: 400, body: { error: 'missing X-GitHub-Event header' } };
  if (event === 'ping') return { status: 200, body: { pong: true } };
  const delivery = req.headers['x-github-delivery'];
  if (typeof delivery !== 'string' || !delivery) return { status: 400, body: { error: 'missing X-GitHub-Delivery header' } };
  const seen = deliveries.get(delivery);
  if (seen) return { status: 200, body: { ...seen.body, existing: true } };

  let trigger;
  try {
    trigger = triggerOf(event, body);
  } catch (err) {
    if (err instanceof MalformedEvent) return { status: 400, body: { error: err.message } };
    throw err;
  }
  if (trigger.kind === 'ignore') return { status: 202, body: { ignored: trigger.reason } };
  if (trigger.at !== undefined && Date.now() - trigger.at > config.maxDeliveryAge) {
    return {
      status: 422,
      body: {
        error: `delivery ${delivery} is for an event of ${new Date(trigger.at).toISOString()}, older than maxDeliveryAge (${formatDuration(config.maxDeliveryAge)}): a replayed or delayed delivery starts nothing; deploy by hand with gantry deploy`,
      },
    };
  }
  const route = config.routes.find((r) => r.repository.toLowerCase() === trigger.repository.toLowerCase() && r.event === event);
  if (!route) return { status: 202, body: { ignored: `no route for ${trigger.repository} ${event}` } };

  const environment = route.environment;
  const pattern = globToRegExp(route.tagPattern);
  let tag: string;
  if (trigger.kind === 'tag') {
    if (!pattern.test(trigger.tag)) return { status: 202, body: { ignored: `tag ${trigger.tag} does not match ${route.tagPattern}` } };
    tag = trigger.tag;
  } else {
    const tags = (await remoteTagsAt(route.remote!, trigger.commit)).filter((t) => pattern.test(t));
    // Several release tags on one commit: the highest version goes out.
    const newest = tags.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))[0];
    if (!newest) return { status: 202, body: { ignored: `no release tag on commit ${trigger.commit}` } };
    tag = newest;
  }

  const requestedBy = `github:${trigger.sender}`;
  const workflowId = deploymentWorkflowId(environment);
  // The same event (GitHub redelivers with the same body) maps to the deployment it already started.
  const query = `WorkflowId = "${workflowId}" AND ${searchAttributes.release.name} = "${tag}" AND ${searchAttributes.requestedBy.name} = "${requestedBy}"`;
  for await (const existing of client.workflow.list({ query, pageSize: 1 })) {
    return deliveries.remember(delivery, { status: 200, body: { workflowId, runId: existing.runId, release: tag, environment, existing: true } });
  }
  // A webhook only moves an environment forward: going back is gantry rollback's job.
  const live = await liveRelease(client, workflowId);
  if (live !== undefined && compareReleases(tag, live) <= 0) {
    return compareReleases(tag, live) === 0
      ? { status: 202, body: { ignored: `${tag} is already live on ${environment}` } }
      : { status: 409, body: { error: `${tag} is older than ${live}, live on ${environment}: a webhook never deploys an older release; use gantry rollback ${environment} --to ${tag}` } };
  }

  let sha256: string;
  try {
    sha256 = await readChecksumFile(route.sha256.replaceAll('{release}', tag), AbortSignal.timeout(15_000));
  } catch (err) {
    return { status: 502, body: { error: (err as Error).message } };
  }
  let request;
  try {
    request = prepareDeployment(environment, tag, {
      sha256,
      requestedBy,
      taskQueue,
      // The commit the event saw: a tag moved since then fails verification as CommitMismatch.
      ...(trigger.commit ? { commit: trigger.commit } : {}),
    });
  } catch (err) {
    if (err instanceof CliExit || err instanceof GantryError) return { status: 422, body: { error: err.message } };
    throw err;
  }
  try {
    const answer = await enqueue(client, request);
    const body = { release: tag, environment, request: answer.id };
    if (answer.deployment) {
      return deliveries.remember(delivery, { status: answer.status === 'attached' ? 200 : 201, body: { ...body, workflowId, runId: answer.deployment.runId, ...(answer.status === 'attached' ? { existing: true } : {}) } });
    }
    // Waiting its turn: the queue starts it (or a newer request replaces it, under latest-wins).
    return deliveries.remember(delivery, {
      status: answer.status === 'attached' ? 200 : 202,
      body: { ...body, queued: true, workflowId: queueWorkflowId(environment), position: answer.position, replaced: answer.replaced, hold: answer.hold },
    });
  } catch (err) {
    if (err instanceof RequestRefused) return { status: 409, body: { error: err.message } };
    throw err;
  }
}

/** The release of the environment's newest deployment that went live (a completed run), if any. */
async function liveRelease(client: Client, workflowId: string): Promise<string | undefined> {
  for await (const run of client.workflow.list({ query: `WorkflowId = "${workflowId}" AND ExecutionStatus = "Completed"`, pageSize: 1 })) {
    return run.typedSearchAttributes.get(searchAttributes.release) ?? undefined;
  }
  return undefined;
}

/** Release tags in version order: semver where both parse (v1.10.0 after v1.10.0-rc.1 after v1.9.2), else numerically (v10 after v9). */
function compareReleases(a: string, b: string): number {
  const [x, y] = [semver.parse(a.replace(/^v/, '')), semver.parse(b.replace(/^v/, ''))];
  return x && y ? semver.compare(x, y) : a.localeCompare(b, 'en', { numeric: true });
}

/** Runs the receiver until SIGINT or SIGTERM. */
export async function webhookCommand(options: { config: string; port: number; host: string; taskQueue: string }, logger: Logger): Promise<number> {
  const config = await loadWebhookConfig(options.config);
  await readSecret(config.secret).catch((err: Error) => {
    throw new CliExit(`webhook config ${options.config}: secret: ${err.message}`, ExitCode.rejected);
  });
  const { client, close } = await connectClient();
  const server = await startWebhookServer({ config, client, taskQueue: options.taskQueue, logger, host: options.host, port: options.port });
  console.error(`gantry webhook: listening on ${server.url}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await close();
  return ExitCode.ok;
}
