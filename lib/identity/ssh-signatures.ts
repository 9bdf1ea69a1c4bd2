// Signatures with OpenSSH's own tool (`ssh-keygen -Y`), nothing re-implemented: the orchestrator
// verifies exactly as an auditor with plain ssh-keygen would. Each refusal names what is wrong.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** A signature that must not count, and why (permanent: signing again is the fix). */
export class SignatureRefused extends Error {
  override readonly name = 'SignatureRefused';
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** ssh-keygen with `input` on stdin; never throws on a non-zero exit (the caller reads why). */
export function sshKeygen(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh-keygen', args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env, timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => reject(new Error(`cannot run ssh-keygen (OpenSSH client tools): ${err.message}`)));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (child.stdin) {
      // ssh-keygen may exit before reading all of stdin (a refused signature): that EPIPE is not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

export interface SignatureCheck {
  /** The signed text, byte for byte. */
  text: string;
  /** The armored SSH signature (-----BEGIN SSH SIGNATURE-----). */
  signature: string;
  namespace: string;
  allowedSignersFile: string;
  revokedKeysFile?: string;
  /** The principal the signer claims to be. */
  principal: string;
  /** Checked as of this time (valid-after / valid-before of allowed-signers). */
  at: Date;
}

export interface VerifiedSignature {
  principal: string;
  /** SHA256:… of the signing key, as ssh-keygen prints it. */
  fingerprint: string;
}

/** ssh-keygen's time format for -Overify-time, in UTC. */
export const verifyTime = (at: Date) => `${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/**
 * Verifies in the order that gives the clearest reason: the signature over these bytes in this
 * namespace, then the key among the allowed signers (and within its validity), then revocation, then
 * that the key belongs to the principal claimed.
 */
export async function verifySignature(check: SignatureCheck): Promise<VerifiedSignature> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sig-'));
  try {
    const sigFile = path.join(dir, 'statement.sig');
    await writeFile(sigFile, check.signature.endsWith('\n') ? check.signature : `${check.signature}\n`);
    const time = `verify-time=${verifyTime(check.at)}`;

    const intact = await sshKeygen(['-Y', 'check-novalidate', '-n', check.namespace, '-s', sigFile], check.text);
    if (intact.code !== 0) {
      if (/namespace does not match/i.test(intact.stderr)) {
        throw new SignatureRefused(`the signature was made for another namespace than ${check.namespace}; sign with ssh-keygen -Y sign -n ${check.namespace} (gantry does)`);
      }
      if (/incorrect signature/i.test(intact.stderr)) throw new SignatureRefused('the signature does not match the statement: the statement was altered after signing, or another text was signed');
      throw new SignatureRefused(`the signature cannot be read (${firstLine(intact.stderr)}); expected an armored SSH signature from ssh-keygen -Y sign`);
    }
    const fingerprint = /key (SHA256:[A-Za-z0-9+/=]+)/.exec(intact.stdout)?.[1] ?? 'unknown key';

    const found = await sshKeygen(['-Y', 'find-principals', '-s', sigFile, '-f', check.allowedSignersFile, '-O', time]);
    const principals = found.code === 0 ? found.stdout.split('\n').map((l) => l.trim()).filter(Boolean) : [];
    if (principals.length === 0) {
      const validity = /key (has expired|is not yet valid)[^\n]*/.exec(found.stderr)?.[0];
      if (validity) throw new SignatureRefused(`key ${fingerprint} is outside its validity in the allowed-signers file: ${validity}`);
      throw new SignatureRefused(`key ${fingerprint} is not in the allowed-signers file (identity.allowedSigners); add it there, pin the new file's sha256, or sign with a listed key`);
    }
    if (check.revokedKeysFile && (await revokedFingerprints(check.revokedKeysFile)).has(fingerprint)) {
      throw new SignatureRefused(`key ${fingerprint} is revoked (identity.revokedKeys)`);
    }
    if (!principals.includes(check.principal)) {
      throw new SignatureRefused(`key ${fingerprint} belongs to ${principals.join(', ')}, not ${check.principal}; sign as yourself`);
    }
    const args = ['-Y', 'verify', '-f', check.allowedSignersFile, '-I', check.principal, '-n', check.namespace, '-s', sigFile, '-O', time];
    if (check.revokedKeysFile) args.push('-r', check.revokedKeysFile);
    const verified = await sshKeygen(args, check.text);
    if (verified.code !== 0) {
      throw new SignatureRefused(`ssh-keygen -Y verify refused the signature of ${check.principal} (${firstLine(verified.stderr) || firstLine(verified.stdout)}); check namespaces= and validity in the allowed-signers file`);
    }
    return { principal: check.principal, fingerprint };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fingerprints of the keys in a revocation list (OpenSSH public keys, one per line; # comments). */
async function revokedFingerprints(file: string): Promise<Set<string>> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read identity.revokedKeys ${file} (${err.code ?? err.message})`);
  });
  if (text.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('#'))) return new Set();
  const listed = await sshKeygen(['-l', '-f', '-'], text);
  if (listed.code !== 0) throw new Error(`identity.revokedKeys ${file} is not a list of OpenSSH public keys (${firstLine(listed.stderr)})`);
  return new Set([...listed.stdout.matchAll(/(SHA256:[A-Za-z0-9+/=]+)/g)].map((m) => m[1]!));
}

export interface SigningKey {
  /** A private key file, or a public key whose private half ssh-agent holds. */
  keyFile?: string;
  /** ssh-agent's socket (SSH_AUTH_SOCK). */
  agentSocket?: string;
}

/** Which key signs: with --key, that key (through the agent when the agent holds it); without, the agent's first key. */
export async function signText(text: string, namespace: string, key: SigningKey): Promise<{ signature: string; via: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sign-'));
  try {
    const agentKeys = key.agentSocket ? await listAgentKeys(key.agentSocket) : [];
    let keyArg: string;
    let via: string;
    const publicOfFile = key.keyFile ? await readFile(key.keyFile.endsWith('.pub') ? key.keyFile : `${key.keyFile}.pub`, 'utf8').catch(() => undefined) : undefined;
    const agentHolds = publicOfFile ? agentKeys.find((k) => sameKey(k, publicOfFile)) : undefined;
    if (key.keyFile && !agentHolds) {
      keyArg = key.keyFile;
      via = `key ${key.keyFile}`;
    } else {
      const chosen = agentHolds ?? agentKeys[0];
      if (!chosen) throw new SignatureRefused('no signing key: ssh-agent holds none (ssh-add) and no --key was given');
      keyArg = path.join(dir, 'agent-key.pub');
      await writeFile(keyArg, `${chosen}\n`);
      via = `ssh-agent (${chosen.split(' ').slice(2).join(' ') || chosen.split(' ')[0]})`;
    }
    const textFile = path.join(dir, 'statement.json');
    await writeFile(textFile, text);
    const env = { ...process.env, ...(key.agentSocket ? { SSH_AUTH_SOCK: key.agentSocket } : {}) };
    const signed = await new Promise<Run>((resolve, reject) => {
      // stdio inherited for stdin: a passphrase prompt reaches the operator's terminal.
      const child = spawn('ssh-keygen', ['-q', '-Y', 'sign', '-f', keyArg, '-n', namespace, textFile], { stdio: ['inherit', 'pipe', 'pipe'], env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }));
    });
    if (signed.code !== 0) throw new SignatureRefused(`ssh-keygen -Y sign failed: ${firstLine(signed.stderr)}`);
    return { signature: await readFile(`${textFile}.sig`, 'utf8'), via };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function listAgentKeys(socket: string): Promise<string[]> {
  try {
    const { stdout } = await exec('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: socket }, timeout: 10_000 });
    return stdout.split('\n').map((l) => l.trim()).filter((l) => /^(ssh-|ecdsa-|sk-)/.test(l));
  } catch {
    return []; // no agent, or an agent without keys
  }
}

const sameKey = (a: string, b: string) => a.split(/\s+/).slice(0, 2).join(' ') === b.trim().split(/\s+/).slice(0, 2).join(' ');

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
export const newNonce = () => randomBytes(18).toString('base64url');

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
}
