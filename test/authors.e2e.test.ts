// Approval by everyone involved (approval.requireAuthors): the authors of the commits going out,
// mapped from their git emails to principals, must approve on top of the N-of-M rule; status and the
// approval request list them and who still has to approve; a change whose author no one can answer
// for fails before any node is drained.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { approveUpdate, statusQuery } from '../workflows/api';
import { rejection, waitForStatus } from './helpers/deployment-status';
import { servedReleases } from './helpers/invariant';
import { startReceiver } from './helpers/receivers';
import { startTestStack, type TestStack } from './helpers/stack';
import { runGantry } from './helpers/cli';
import { waitUntil } from '../lib/core/wait';

const ALICE = 'Alice Doe <alice@acme.test>';
const CAROL = 'Carol Roe <Carol@Acme.test>';
const ZED = 'Zed <zed@elsewhere.test>';

let stack: TestStack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

const deploy = (release: string) => startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'github:alice', taskQueue: stack.taskQueue });
const everyNode = (release: string) => Object.fromEntries(stack.nodeIds.map((id) => [id, release]));
const approval = (requireAuthors: 'all' | 'any') => ({
  approval: { approvers: ['bob', 'dave'], minApprovals: 1, timeout: '10m', requireAuthors, authors: { 'alice@acme.test': 'alice', 'carol@acme.test': 'carol' } },
  notifications: { channels: [{ type: 'webhook', url: { fromEnv: 'AUTHORS_RECEIVER_URL' }, events: ['awaiting-approval'] }] },
});

describe('approval by everyone involved', () => {
  beforeAll(async () => {
    receiver = await startReceiver('record');
    stack = await startTestStack({
      releases: ['v1', { release: 'v2', authors: [ALICE, CAROL, ALICE] }, { release: 'v3', authors: [CAROL, ZED] }],
      workerEnv: { AUTHORS_RECEIVER_URL: receiver.url },
    });
    expect((await awaitOutcome(await deploy('v1'))).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('requireAuthors: all waits for every author of the change list, and refuses a non-author counted as one', async () => {
    await stack.define(approval('all'));
    const handle = await deploy('v2');
    const waiting = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'the approval gate');
    expect(waiting.authors).toEqual([
      { principal: 'alice', email: 'alice@acme.test', commits: 2, approved: false },
      { principal: 'carol', email: 'carol@acme.test', commits: 1, approved: false },
    ]);
    expect(waiting.approvalsMissing).toEqual(['1 more approval(s)', 'approval from alice, carol (authors of the changes)']);
    expect(waiting.events.map((e) => e.what)).toContain('authors of the changes, who must approve (all): alice (2 commits), carol (1 commit)');
    const requests = () => receiver.deliveries.map((d) => d.body).filter((b) => b.event === 'awaiting-approval');
    expect(await waitUntil(() => Promise.resolve(requests().length === 1), 20_000, 100)).toBe(true);
    const [request] = requests();
    expect(request).toMatchObject({ requireAuthors: 'all', authors: [{ principal: 'alice', commits: 2 }, { principal: 'carol', commits: 1 }], stillNeeded: waiting.approvalsMissing });

    // Neither an approver nor an author: refused, naming both lists.
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] }))).toBe(
      `mallory is not an approver of ${stack.name} (approvers: bob, dave) and not an author of the changes (alice, carol)`,
    );
    // An approver who wrote none of it fills the N-of-M rule, not an author's place.
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    // An author off the approvers list: her approval counts for her changes, not toward minApprovals.
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    const one = await handle.query(statusQuery);
    expect(one.phase).toBe('awaiting-approval');
    expect(one.approvalsMissing).toEqual(['approval from carol (author of the changes)']);
    expect(one.authors!.map((a) => [a.principal, a.approved])).toEqual([['alice', true], ['carol', false]]);
    const why = await runGantry(['why', stack.name, '--json'], stack.clientEnv);
    expect(JSON.parse(why.stdout)).toMatchObject({ kind: 'approval', what: expect.stringContaining('approval from carol') as unknown });
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v1'));

    const carol = await runGantry(['approve', stack.name, '--as', 'carol'], stack.clientEnv);
    expect(carol.code, carol.stderr).toBe(0);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status, outcome.error).toBe('live');
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v2'));
  });

  it('an author no one can answer for fails the deployment before any node is drained, naming the email and the fix', async () => {
    await stack.define(approval('all'));
    const outcome = await awaitOutcome(await deploy('v3'));
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toContain('no principal is known for author zed@elsewhere.test');
    expect(outcome.error).toContain('"zed@elsewhere.test": <name>');
    expect(outcome.nodes!.map((n) => n.lb)).toEqual(['ready', 'ready', 'ready']);
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v2'));
  });

  it('requireAuthors: any is met by one author who can answer for the changes', async () => {
    await stack.define(approval('any'));
    const handle = await deploy('v3');
    const waiting = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'the approval gate');
    expect(waiting.approvalsMissing).toEqual(['1 more approval(s)', 'approval from one of the authors: carol']);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] });
    expect((await handle.query(statusQuery)).approvalsMissing).toEqual(['1 more approval(s)']);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'dave' }] });
    expect((await awaitOutcome(handle)).status).toBe('live');
  });
});
