// Who counts as whom and when approvals are enough (lib/identity/policy.ts), the statement's one
// canonical form (lib/identity/statement.ts), and how approvals read in chat and the CLI.
import { describe, expect, it } from 'vitest';
import { environmentSchema } from '../lib/config/environment-schema';
import { approvalProgress, authorsMissing, changeAuthors, controllersOf, principalOf } from '../lib/identity/policy';
import { canonicalStatement, parseStatement, type Statement } from '../lib/identity/statement';
import { slackMessage } from '../lib/notify/format';
import { describeApproval } from '../cli/format';

const env = environmentSchema.parse({
  name: 'prod',
  nodes: [{ id: 'web-1', address: '127.0.0.1:8080' }],
  loadBalancer: { type: 'haproxy', socket: '/run/haproxy.sock', backend: 'app' },
  source: { remote: '/srv/repo.git' },
  identity: {
    allowedSigners: '/etc/gantry/allowed_signers',
    allowedSignersSha256: 'a'.repeat(64),
    aliases: { 'github:alice': 'alice' },
    groups: { sre: ['bob', 'carol'], owners: ['carol', 'dave'], operators: ['ops'] },
  },
  approval: { approvers: ['@sre', '@owners'], minApprovals: 2, requireSigned: true, rules: [{ group: 'sre', min: 1 }, { group: 'owners', min: 1 }] },
});
const policy = env.approval!;

describe('approval rules', () => {
  it('counts each approval toward one rule at most, finding the assignment whatever the order', () => {
    // carol is in both groups: alone she fills one rule, not two.
    expect(approvalProgress(env, policy, ['carol'])).toEqual({ met: false, needed: 1, missing: ['1 more of owners'] });
    // carol first takes the sre seat; bob can only sit there, so carol moves to owners.
    expect(approvalProgress(env, policy, ['carol', 'bob']).met).toBe(true);
    expect(approvalProgress(env, policy, ['bob', 'carol']).met).toBe(true);
    // bob is only in sre: owners stays empty however many of sre approve.
    expect(approvalProgress(env, { ...policy, rules: [{ group: 'sre', min: 1 }, { group: 'owners', min: 1 }] }, ['bob'])).toEqual({ met: false, needed: 1, missing: ['1 more of owners'] });
    expect(approvalProgress(env, policy, [])).toEqual({ met: false, needed: 2, missing: ['1 more of sre', '1 more of owners'] });
    // More needed than the rules' seats: the rest from anyone on the list.
    expect(approvalProgress(env, { ...policy, minApprovals: 3, rules: [{ group: 'sre', min: 1 }] }, [])).toEqual({
      met: false,
      needed: 3,
      missing: ['1 more of sre', '2 more approval(s) from any approver'],
    });
  });

  it('maps requesters to principals and lists who may abort', () => {
    expect(principalOf(env, 'github:alice')).toBe('alice');
    expect(principalOf(env, 'bob')).toBe('bob');
    expect(controllersOf(env, 'github:alice')).toEqual(['alice', 'bob', 'carol', 'dave', 'ops']);
    const open = environmentSchema.parse({ ...env, approval: undefined, identity: undefined, control: undefined });
    expect(controllersOf(open, 'alice')).toBeUndefined();
  });

  it('refuses definitions whose signing or groups cannot work, naming the field', () => {
    const problems = (patch: Record<string, unknown>) => {
      const parsed = environmentSchema.safeParse({ ...env, ...patch });
      return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ identity: undefined, approval: { requireSigned: true } })).toContain(
      'approval.requireSigned: signatures need an identity section (identity.allowedSigners and identity.allowedSignersSha256)',
    );
    expect(problems({ approval: { approvers: ['@requester'] } })).toEqual(['approval.approvers.0: @requester cannot be an approver; name principals or identity groups']);
    expect(problems({ approval: { approvers: ['@nobody'] } })).toEqual(['approval.approvers.0: no identity group "nobody" (groups: sre, owners, operators)']);
    expect(problems({ approval: { rules: [{ group: 'owners', min: 3 }] } })).toEqual(['approval.rules.0.min: group owners has 2 member(s); 3 can never be reached']);
    expect(problems({ control: { allowd: [] } })[0]).toMatch(/allowd: unknown key; did you mean allowed\?/);
  });
});

describe('statements', () => {
  const statement: Statement = {
    v: 1,
    environment: 'prod',
    workflowId: 'deploy/prod',
    runId: '0193a1b2-run',
    action: 'approve',
    release: 'v2',
    commit: 'c'.repeat(40),
    artifactSha256: 'd'.repeat(64),
    planHash: 'e'.repeat(64),
    by: 'bob',
    issuedAt: '2026-12-03T10:00:00.000Z',
    expiresAt: '2026-12-03T10:10:00.000Z',
    nonce: 'n0nce-n0nce-n0nce-n0nce',
  };

  it('has one canonical text, and parses only that', () => {
    const text = canonicalStatement({ ...statement });
    expect(text.startsWith('{"v":1,"environment":"prod","workflowId":"deploy/prod","runId":')).toBe(true);
    expect(parseStatement(text)).toEqual(statement);
    expect(() => parseStatement(JSON.stringify(statement, null, 1))).toThrow(/not in canonical form/);
    expect(() => parseStatement(text.replace('"by":"bob"', '"by":"bob","extra":1'))).toThrow(/extra: unknown key/);
    expect(() => parseStatement(text.replace('"approve"', '"deploy"'))).toThrow(/action/);
    expect(() => parseStatement('not json')).toThrow('the statement is not JSON');
  });
});

describe('approvals as people read them', () => {
  const approvals = [
    { by: 'bob', time: '2026-12-03T10:00:00.000Z', verified: true, fingerprint: 'SHA256:0qCtB5tlrCBGsM0raEjYY9N1XPQvJJ1Lo7AFtaoEJyI' },
    { by: 'carol', time: '2026-12-03T10:01:00.000Z', verified: false },
  ];
  it('say who approved, with which key, and whether it was verified', () => {
    expect(approvals.map(describeApproval)).toEqual(['bob (signed, key SHA256:0qCtB5tlrCBGsM0raEjYY9N1XPQvJJ1Lo7AFtaoEJyI)', 'carol (not signed)']);
    const message = slackMessage({ event: 'approved', environment: 'prod', release: 'v2', commit: null, requestedBy: 'alice', workflowId: 'deploy/prod', phase: 'awaiting-approval', nodes: [], approvals });
    expect(JSON.stringify(message.blocks)).toContain('*Approvals*\\n• bob — signed, key `SHA256:0qCtB5tlrCBGsM0raEjYY9N1XPQvJJ1Lo7AFtaoEJyI`\\n• carol — not signed');
  });
});

describe('the authors of the changes (approval.requireAuthors)', () => {
  const base = { name: 'prod', nodes: [{ id: 'web-1', address: '127.0.0.1:8080' }], loadBalancer: { type: 'haproxy', socket: '/run/haproxy.sock', backend: 'app' }, source: { remote: '/srv/repo.git' } };
  const withAuthors = (requireAuthors: string, authors: Record<string, string>) => environmentSchema.safeParse({ ...base, approval: { approvers: ['bob'], requireAuthors, authors } });
  const commits = [{ author: 'Alice Doe <Alice@Acme.test>' }, { author: 'Carol <carol@acme.test>' }, { author: 'Alice Doe <alice@acme.test>' }, { author: 'Bot <bot@ci.test>' }];

  it('maps git emails (case-insensitively) to principals, most commits first, and names the unmapped', () => {
    const parsed = withAuthors('all', { 'ALICE@acme.test': 'alice', 'carol@acme.test': 'carol' });
    expect(parsed.success).toBe(true);
    const approval = parsed.data!.approval!;
    expect(approval.authors).toEqual({ 'alice@acme.test': 'alice', 'carol@acme.test': 'carol' });
    expect(changeAuthors(approval, commits)).toEqual({
      authors: [{ principal: 'alice', email: 'alice@acme.test', commits: 2 }, { principal: 'carol', email: 'carol@acme.test', commits: 1 }],
      unmapped: ['bot@ci.test'],
    });
  });

  it('all waits for each author; any for one; none for nobody', () => {
    const approval = withAuthors('all', { 'alice@acme.test': 'alice', 'carol@acme.test': 'carol' }).data!.approval!;
    const { authors } = changeAuthors(approval, commits);
    expect(authorsMissing(approval, authors, ['bob', 'alice'])).toEqual({ missing: ['approval from carol (author of the changes)'], needed: 1, waitingFor: ['carol'] });
    expect(authorsMissing(approval, authors, ['carol', 'alice']).needed).toBe(0);
    expect(authorsMissing({ ...approval, requireAuthors: 'any' }, authors, ['bob'])).toEqual({ missing: ['approval from one of the authors: alice, carol'], needed: 1, waitingFor: ['alice', 'carol'] });
    expect(authorsMissing({ ...approval, requireAuthors: 'any' }, authors, ['carol']).needed).toBe(0);
    expect(authorsMissing({ ...approval, requireAuthors: 'none' }, authors, []).needed).toBe(0);
  });

  it('refuses requireAuthors without a mapping, and a key that is not an email, naming the field', () => {
    expect(withAuthors('all', {}).error?.issues[0]).toMatchObject({ path: ['approval', 'authors'], message: expect.stringContaining('needs the authors\' git emails mapped') as unknown });
    expect(withAuthors('any', { alice: 'alice' }).error?.issues[0]?.message).toContain("is not a git author email");
    expect(withAuthors('everyone', { 'a@b.c': 'a' }).success).toBe(false);
  });
});
