// Decides whether a tag may be deployed: it is on the canonical remote, allowed by the environment's
// pattern, names the expected commit, and (when required) carries a trusted signature over its own name.
import { failureTypes, type VerificationFailureType } from '../core/failure-types';
import type { GitMirror } from './git-mirror';

export class VerificationError extends Error {
  override readonly name = 'VerificationError';
  constructor(
    readonly type: VerificationFailureType,
    message: string,
  ) {
    super(message);
  }
}

export interface TagPolicy {
  /** Glob: `*` any run of characters, `?` one character. */
  tagPattern: string;
  requireSignedTag: boolean;
  allowedSignersFile?: string;
  gpgHome?: string;
  /** The signed tag's message names the only artifact that may go out: `artifact-sha256: <hex>`. */
  artifactDigestInTag?: boolean;
}

export interface VerifiedTag {
  commit: string;
  annotated: boolean;
  signed: boolean;
  signature?: string;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export async function verifyTag(mirror: GitMirror, tag: string, policy: TagPolicy, expectedCommit?: string, artifactSha256?: string): Promise<VerifiedTag> {
  if (!globToRegExp(policy.tagPattern).test(tag)) {
    throw new VerificationError(failureTypes.tagNotAllowed, `tag ${tag} does not match this environment's tagPattern "${policy.tagPattern}"`);
  }
  const ref = await mirror.tag(tag);
  if (!ref) {
    if (expectedCommit) {
      const known = await mirror.hasCommit(expectedCommit);
      throw new VerificationError(
        failureTypes.tagNotPushed,
        `tag ${tag} is not on ${mirror.remote}${known ? ` although commit ${expectedCommit} is` : ''}; push it: git push origin ${tag}`,
      );
    }
    throw new VerificationError(failureTypes.tagNotFound, `tag ${tag} does not exist on ${mirror.remote}; check the name, or push it: git push origin ${tag}`);
  }
  if (expectedCommit && !ref.commit.startsWith(expectedCommit.toLowerCase())) {
    throw new VerificationError(
      failureTypes.commitMismatch,
      `tag ${tag} on ${mirror.remote} names commit ${ref.commit}, not the requested ${expectedCommit}; was the tag moved?`,
    );
  }
  const annotated = ref.type === 'tag';
  // A signed tag object names itself; a ref of another name pointing at it is a renaming attack.
  if (annotated) {
    const inner = await mirror.tagObjectName(ref.object);
    if (inner !== tag) {
      throw new VerificationError(failureTypes.tagRenamed, `ref ${tag} points at the tag object of "${inner}": refusing a renamed tag`);
    }
  }
  if (!policy.requireSignedTag) return { commit: ref.commit, annotated, signed: false };
  if (!annotated) {
    throw new VerificationError(failureTypes.tagSignatureInvalid, `tag ${tag} is a lightweight tag and cannot carry a signature; create it with git tag -s`);
  }
  const check = await mirror.verifyTag(tag, { allowedSignersFile: policy.allowedSignersFile, gpgHome: policy.gpgHome });
  if (!check.ok) {
    throw new VerificationError(
      failureTypes.tagSignatureInvalid,
      `tag ${tag} has no signature from a trusted key: ${oneLine(check.output)}; sign it with a key listed in the environment's trusted keys`,
    );
  }
  if (policy.artifactDigestInTag) {
    // Covered by the signature just checked: the tag vouches for the bytes, not only the name.
    const named = [...(await mirror.tagMessage(ref.object)).matchAll(/^artifact-sha256:\s*([0-9a-f]{64})\s*$/gm)].map((m) => m[1]!);
    if (named.length !== 1) {
      throw new VerificationError(
        failureTypes.digestNotSigned,
        `signed tag ${tag} must name its artifact on one line "artifact-sha256: <64 hex digits>" (found ${named.length}); re-tag with git tag -s -m "artifact-sha256: $(sha256sum app.tgz | cut -d' ' -f1)"`,
      );
    }
    if (artifactSha256 !== undefined && named[0] !== artifactSha256) {
      throw new VerificationError(failureTypes.digestNotSigned, `artifact sha256 ${artifactSha256} is not the one signed tag ${tag} names (${named[0]}); deploy the artifact the tag was signed for`);
    }
  }
  return { commit: ref.commit, annotated, signed: true, signature: firstLine(check.output) };
}

/** All of git's words matter here: "Good signature" comes before "No principal matched". */
function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).join(' ') || '(no output)';
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '(no output)';
}
