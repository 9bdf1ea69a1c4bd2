// Nodes configured from what the fleet knows: the release carries a Handlebars template, the
// definition names it and the service endpoints (one secret, held only by the nodes' agents), and each
// agent renders it into the release folder before the node is activated. A template that uses a fact
// the fleet does not give fails the deployment, naming it, before any node is drained.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { DeployResult } from '../workflows/api';
import { servedReleases } from './helpers/invariant';
import { payloadJson } from './helpers/payloads';
import { startTestStack, type TestStack } from './helpers/stack';

const DB_URL = `postgres://shop:pw-${randomUUID()}@127.0.0.1:5432/shop`;
const TEMPLATE = `{
  "node": "{{node.id}}",
  "listen": "{{node.address}}",
  "peers": [{{#each peers}}"{{address}}"{{#unless @last}}, {{/unless}}{{/each}}],
  "fleet": {{nodes.length}},
  "memcached": "{{services.memcached}}",
  "database": "{{services.database}}",
  "release": "{{release}}"
}
`;
// v3's template asks for a service the definition does not name.
const BROKEN = `{"cache": "{{services.memcached}}",\n "queue": "{{services.redis}}"}\n`;

let stack: TestStack;
let sources: string;

const deploy = async (release: string) => awaitOutcome(await startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
const rendered = async (id: string, release: string) => JSON.parse(await readFile(path.join(stack.nodeRoot(id), 'releases', release, 'config', 'app.json'), 'utf8')) as Record<string, unknown>;

describe('configuration rendered on the nodes', () => {
  beforeAll(async () => {
    sources = await mkdtemp(path.join(os.tmpdir(), 'gantry-templates-'));
    await writeFile(path.join(sources, 'good.hbs'), TEMPLATE);
    await writeFile(path.join(sources, 'broken.hbs'), BROKEN);
    stack = await startTestStack({
      releases: ['v1', { release: 'v2', files: { 'config/app.json.hbs': path.join(sources, 'good.hbs') } }, { release: 'v3', files: { 'config/app.json.hbs': path.join(sources, 'broken.hbs') } }],
      agentEnv: { SHOP_DATABASE_URL: DB_URL },
    });
    expect((await deploy('v1')).status).toBe('live');
    await stack.define({ config: { templates: ['config/app.json.hbs'], services: { memcached: 'memcached://10.0.0.9:11211', database: { fromNodeEnv: 'SHOP_DATABASE_URL' } } } });
  });
  afterAll(async () => {
    await stack?.close();
    await rm(sources, { recursive: true, force: true });
  });

  it("holds the other nodes' addresses and the named service URLs; the secret one never leaves the nodes", async () => {
    const outcome = await deploy('v2');
    expect(outcome.status, outcome.error).toBe('live');
    const env = await loadEnvironmentFile(stack.envFile);
    for (const node of env.nodes) {
      const config = await rendered(node.id, 'v2');
      expect(config).toEqual({
        node: node.id,
        listen: node.address,
        peers: env.nodes.filter((n) => n.id !== node.id).map((n) => n.address),
        fleet: 3,
        memcached: 'memcached://10.0.0.9:11211',
        database: DB_URL,
        release: 'v2',
      });
    }
    const result = (await stack.client.workflow.getHandle(outcome.workflowId, outcome.runId).result()) as DeployResult;
    for (const node of result.nodes) {
      expect(node.config).toEqual({
        rendered: ['config/app.json'],
        facts: ['environment', 'release', 'nodes', 'pool', 'node', 'peers', 'services.memcached', 'services.database (secret, from the node)'],
      });
    }
    // What the orchestrator sent each agent, decoded: the variable's name, never its value.
    const history = await stack.client.workflow.getHandle(outcome.workflowId, outcome.runId).fetchHistory();
    const inputs = await Promise.all(
      (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'renderConfig' ? [payloadJson(e.activityTaskScheduledEventAttributes.input!.payloads![0])] : [])),
    );
    expect(inputs).toHaveLength(3);
    for (const input of inputs) expect(input).toMatchObject({ secretServices: { database: 'SHOP_DATABASE_URL' }, facts: { services: { memcached: 'memcached://10.0.0.9:11211' } } });
    const decoded = JSON.stringify(await Promise.all((history.events ?? []).flatMap((e) => [...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []), ...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? [])].map((p) => payloadJson(p)))));
    expect(decoded).not.toContain(DB_URL.slice(DB_URL.indexOf('pw-'), DB_URL.indexOf('@')));
  });

  it('a fact the fleet does not give is an error naming it, before any node is drained', async () => {
    const outcome = await deploy('v3');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toContain('template config/app.json.hbs uses services.redis, which the fleet does not give');
    expect(outcome.error).toContain('add redis to config.services in the definition');
    expect(outcome.nodes!.map((n) => [n.release, n.lb])).toEqual([['v2', 'ready'], ['v2', 'ready'], ['v2', 'ready']]);
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v2'])));
  });
});
