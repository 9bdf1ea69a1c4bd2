// Tag verification against a real remote (a bare repository), with real SSH signatures.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerificationActivities, type ChangeList, type VerificationActivities } from '../activities/orchestrator/verification';
import type { VerifiedTag } from '../lib/source/tag-verification';
import { environmentSchema, type Environment } from '../lib/config/environment-schema';
import { createLogger } from '../lib/core/logger';
import { createTestRepo, type TestRepo } from './helpers/git-repo';
import { caught } from './helpers/caught';

const run = promisify(execFile);
let dir: string;
let repo: TestRepo;
let activities: VerificationActivities;
let signedSource: Environment['source'];
const commits: Record<string, string> = {};
const alice = { name: 'Alice Liddell', email: 'alice@example.com' };
const bob = { name: 'Bob Builder', email: 'bob@example.com' };

async function keypair(name: string): Promise<string> {
  const file = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return file;
}

const signedTag = (tag: string, key: string, message = `Release ${tag}`) =>
  repo.git('-c', `user.name=${alice.name}`, '-c', `user.email=${alice.email}`, '-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`, 'tag', '-s', tag, '-m', message);
const SIGNED_DIGEST = 'a1'.repeat(32);

function verify(tag: string, source: Environment['source'], commit?: string, artifactSha256?: string): Promise<VerifiedTag> {
  return new MockActivityEnvironment().run(activities.verifyTag.bind(activities), { source, tag, ...(commit ? { commit } : {}), ...(artifactSha256 ? { artifactSha256 } : {}) });
}

function listChanges(from: string, to: string): Promise<ChangeList> {
  return new MockActivityEnvironment().run(activities.listChanges.bind(activities), { remote: repo.remote, from, to });
}

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).nonRetryable).toBe(true);
  return err as ApplicationFailure;
}

describe('tag verification', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-tags-'));
    repo = await createTestRepo(dir);
    const trusted = await keypair('trusted');
    const stranger = await keypair('stranger');
    const allowedSigners = path.join(dir, 'allowed_signers');
    await writeFile(allowedSigners, `release@example.com ${(await readFile(`${trusted}.pub`, 'utf8')).trim()}\n`);
    activities = createVerificationActivities({ logger: createLogger('test', 'silent'), mirrorsDir: path.join(dir, 'mirrors') });
    signedSource = environmentSchema.shape.source.parse({ remote: repo.remote, tagPattern: 'v*', requireSignedTag: true, allowedSignersFile: allowedSigners });

    commits.one = await repo.commit('Add the shop', alice);
    await signedTag('v1.0.0', trusted);
    commits.two = await repo.commit('Fix the cart total', bob);
    commits.three = await repo.commit('Speed up checkout', alice);
    await signedTag('v1.1.0', trusted);
    await signedTag('v1.1.1-stranger', stranger);
    await signedTag('v1.2.0', trusted, `Release v1.2.0\n\nartifact-sha256: ${SIGNED_DIGEST}`);
    await repo.git('-c', `user.name=${alice.name}`, '-c', `user.email=${alice.email}`, 'tag', '-a', 'v1.1.2-unsigned', '-m', 'unsigned');
    await repo.git('tag', 'v1.1.3-light');
    await repo.git('push', '--quiet', 'origin', 'HEAD:refs/heads/main', '--tags');
    // The renaming attack: a new ref pointing at v1.0.0's signed tag object.
    await repo.git('push', '--quiet', 'origin', `${await repo.git('rev-parse', 'refs/tags/v1.0.0')}:refs/tags/v9.9.9`);
    // A tag that exists only here, never pushed.
    await repo.git('tag', 'v2.0.0-local');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('passes a tag signed by a trusted key and returns its commit', async () => {
    const verified = await verify('v1.1.0', signedSource, commits.three!.slice(0, 10));
    expect(verified).toMatchObject({ commit: commits.three, annotated: true, signed: true });
    expect(verified.signature).toContain('Good "git" signature for release@example.com');
  });

  it.each([
    ['v1.1.1-stranger', 'TagSignatureInvalid', /no signature from a trusted key: .*No principal matched/],
    ['v1.1.2-unsigned', 'TagSignatureInvalid', /no signature from a trusted key: error: no signature found/],
    ['v1.1.3-light', 'TagSignatureInvalid', /lightweight tag .* git tag -s/],
    ['v9.9.9', 'TagRenamed', /ref v9.9.9 points at the tag object of "v1.0.0"/],
  ])('refuses %s with %s', async (tag, type, message) => {
    const failure = await refusal(verify(tag, signedSource));
    expect(failure.type).toBe(type);
    expect(failure.message).toMatch(message);
  });

  it('refuses a tag that was never pushed: TagNotPushed when the commit is named, TagNotFound otherwise', async () => {
    const notPushed = await refusal(verify('v2.0.0-local', signedSource, commits.three));
    expect(notPushed.type).toBe('TagNotPushed');
    expect(notPushed.message).toBe(`tag v2.0.0-local is not on ${repo.remote} although commit ${commits.three} is; push it: git push origin v2.0.0-local`);
    const notFound = await refusal(verify('v2.0.0-local', signedSource));
    expect(notFound.type).toBe('TagNotFound');
  });

  it('with artifactDigestInTag, only the artifact the signed tag names may go out', async () => {
    const bound = { ...signedSource, artifactDigestInTag: true };
    expect(await verify('v1.2.0', bound, undefined, SIGNED_DIGEST)).toMatchObject({ signed: true });
    const other = await refusal(verify('v1.2.0', bound, undefined, 'b2'.repeat(32)));
    expect(other.type).toBe('DigestNotSigned');
    expect(other.message).toBe(`artifact sha256 ${'b2'.repeat(32)} is not the one signed tag v1.2.0 names (${SIGNED_DIGEST}); deploy the artifact the tag was signed for`);
    const unnamed = await refusal(verify('v1.1.0', bound, undefined, SIGNED_DIGEST));
    expect(unnamed.type).toBe('DigestNotSigned');
    expect(unnamed.message).toContain('must name its artifact on one line "artifact-sha256: <64 hex digits>"');
  });

  it('refuses a tag naming another commit than the requested one', async () => {
    const failure = await refusal(verify('v1.1.0', signedSource, commits.two));
    expect(failure.type).toBe('CommitMismatch');
    expect(failure.message).toContain(`names commit ${commits.three}, not the requested ${commits.two}`);
  });

  it('refuses a tag outside the environment\'s pattern', async () => {
    const failure = await refusal(verify('v1.1.0', { ...signedSource, tagPattern: 'release-*' }));
    expect(failure.type).toBe('TagNotAllowed');
  });

  it('sees tags pushed after the mirror was made (it fetches), and tags deleted since', async () => {
    await repo.git('push', '--quiet', 'origin', 'v2.0.0-local');
    const unsigned = { ...signedSource, requireSignedTag: false };
    expect((await verify('v2.0.0-local', unsigned)).commit).toBe(commits.three);
    await repo.git('push', '--quiet', 'origin', ':refs/tags/v2.0.0-local');
    expect((await refusal(verify('v2.0.0-local', unsigned))).type).toBe('TagNotFound');
  });

  it('lists the changes between two tags with their authors', async () => {
    const changes = await listChanges('v1.0.0', 'v1.1.0');
    expect(changes.total).toBe(2);
    expect(changes.commits).toEqual([
      { sha: commits.three, author: 'Alice Liddell <alice@example.com>', subject: 'Speed up checkout' },
      { sha: commits.two, author: 'Bob Builder <bob@example.com>', subject: 'Fix the cart total' },
    ]);
    const all = await listChanges('gone', 'v1.1.0');
    expect(all).toMatchObject({ from: null, total: 3 });
  });
});
