// Who counts as whom, who may do what, and when enough approvals are in: plain functions over the
// definition, shared by the deployment workflow (deterministic) and the CLI. No I/O.
import type { ApprovalPolicy, Environment } from '../config/environment-schema';

/** The principal behind a name: "github:alice" maps to "alice" through identity.aliases. */
export function principalOf(env: Environment, name: string): string {
  return env.identity?.aliases[name] ?? name;
}

/** Expands names and "@group"s; "@requester" and "@approvers" where the caller gives them. */
export function expand(env: Environment, refs: readonly string[], roles: { requester?: string; approvers?: readonly string[] } = {}): string[] {
  const out = new Set<string>();
  for (const ref of refs) {
    if (ref === '@requester') {
      if (roles.requester) out.add(principalOf(env, roles.requester));
    } else if (ref === '@approvers') {
      for (const a of roles.approvers ?? []) out.add(a);
    } else if (ref.startsWith('@')) {
      for (const member of env.identity?.groups[ref.slice(1)] ?? []) out.add(member);
    } else out.add(ref);
  }
  return [...out];
}

/** The approvers by name; undefined means anyone (no list). A list whose groups are empty names nobody. */
export function approversOf(env: Environment): string[] | undefined {
  const refs = env.approval?.approvers ?? [];
  return refs.length === 0 ? undefined : expand(env, refs);
}

/**
 * Who may abort, pause or resume this deployment; undefined means anyone: the list names "@approvers"
 * and the approvers are open (no list), so restricting control starts with naming approvers or control.allowed.
 */
export function controllersOf(env: Environment, requester: string): string[] | undefined {
  const approvers = approversOf(env);
  if (env.control.allowed.includes('@approvers') && approvers === undefined) return undefined;
  return expand(env, env.control.allowed, { requester, approvers: approvers ?? [] });
}

export interface ApprovalProgress {
  met: boolean;
  /** Approvals still needed (at least the overall minimum, and enough to fill every group rule). */
  needed: number;
  /** What is missing, for status and notices: "1 more of sre". */
  missing: string[];
}

/**
 * Whether `approvers` (distinct principals) meet the policy: at least minApprovals in all, and every
 * group rule filled by approvals that count toward no other rule (a bipartite matching of approvals to
 * rule seats, found by augmenting paths; the numbers are small).
 */
export function approvalProgress(env: Environment, policy: ApprovalPolicy, approvers: readonly string[]): ApprovalProgress {
  const groups = env.identity?.groups ?? {};
  // Definitions in histories from before rules existed have none.
  const rules = (policy.rules as ApprovalPolicy['rules'] | undefined) ?? [];
  const seats = rules.flatMap((rule) => Array.from({ length: rule.min }, () => rule.group));
  const seatOf = new Map<number, number>(); // approver index -> seat index
  const holder = new Map<number, number>(); // seat index -> approver index
  const tryAssign = (a: number, seen: Set<number>): boolean => {
    for (let s = 0; s < seats.length; s++) {
      if (seen.has(s) || !(groups[seats[s]!] ?? []).includes(approvers[a]!)) continue;
      seen.add(s);
      const current = holder.get(s);
      if (current === undefined || tryAssign(current, seen)) {
        holder.set(s, a);
        seatOf.set(a, s);
        return true;
      }
    }
    return false;
  };
  approvers.forEach((_, a) => tryAssign(a, new Set()));
  const missing: string[] = [];
  for (const rule of rules) {
    const filled = [...holder.keys()].filter((s) => seats[s] === rule.group).length;
    if (filled < rule.min) missing.push(`${rule.min - filled} more of ${rule.group}`);
  }
  const unfilledSeats = seats.length - holder.size;
  const needed = Math.max(policy.minApprovals - approvers.length, unfilledSeats, 0);
  // Beyond the group seats, approvals from anyone on the list.
  if (needed > unfilledSeats) missing.push(`${needed - unfilledSeats} more approval(s)${unfilledSeats > 0 ? ' from any approver' : ''}`);
  return { met: needed === 0 && missing.length === 0, needed, missing };
}

/** One author of the changes going out, as the approval gate sees them. */
export interface ChangeAuthor {
  principal: string;
  email: string;
  commits: number;
}

export interface ChangeAuthors {
  authors: ChangeAuthor[];
  /** Author emails approval.authors does not map: such a change can never be approved by its author. */
  unmapped: string[];
}

const emailOf = (author: string) => (/<([^<>]*)>\s*$/.exec(author)?.[1] ?? author).trim().toLowerCase();

/** The principals behind the commits' authors ("Name <email>", as git log prints them), most commits first. */
export function changeAuthors(policy: ApprovalPolicy, commits: readonly { author: string }[]): ChangeAuthors {
  const map = (policy.authors as ApprovalPolicy['authors'] | undefined) ?? {};
  const byPrincipal = new Map<string, ChangeAuthor>();
  const unmapped = new Set<string>();
  for (const { author } of commits) {
    const email = emailOf(author);
    const principal = map[email];
    if (!principal) {
      unmapped.add(email);
      continue;
    }
    const known = byPrincipal.get(principal);
    if (known) known.commits++;
    else byPrincipal.set(principal, { principal, email, commits: 1 });
  }
  return { authors: [...byPrincipal.values()].sort((a, b) => b.commits - a.commits || a.principal.localeCompare(b.principal)), unmapped: [...unmapped].sort() };
}

/** What the authors' part of the gate still misses: ["approval from alice, carol (authors)"], or [] when met. */
export function authorsMissing(policy: ApprovalPolicy, authors: readonly ChangeAuthor[], approvers: readonly string[]): { missing: string[]; needed: number; waitingFor: string[] } {
  const mode = (policy.requireAuthors as ApprovalPolicy['requireAuthors'] | undefined) ?? 'none';
  if (mode === 'none' || authors.length === 0) return { missing: [], needed: 0, waitingFor: [] };
  const waitingFor = authors.map((a) => a.principal).filter((p) => !approvers.includes(p));
  if (mode === 'all') return waitingFor.length === 0 ? { missing: [], needed: 0, waitingFor } : { missing: [`approval from ${waitingFor.join(', ')} (author${waitingFor.length > 1 ? 's' : ''} of the changes)`], needed: waitingFor.length, waitingFor };
  return waitingFor.length < authors.length ? { missing: [], needed: 0, waitingFor: [] } : { missing: [`approval from one of the authors: ${waitingFor.join(', ')}`], needed: 1, waitingFor };
}
