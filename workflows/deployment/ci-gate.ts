// The CI gate: the required checks on the tag's commit must pass. When the CI provider cannot be
// asked (GitHub down or unreachable), the definition decides: wait until the deadline, or (operator)
// wait and let an operator accept going on without them — recorded with what went unchecked and who.
import { condition } from '@temporalio/workflow';
import type { CiConfig } from '../../lib/config/environment-schema';
import { ciChecks } from '../common/proxies';
import type { DeploymentState } from './state';

export async function ciGate(ci: CiConfig, commit: string, state: DeploymentState): Promise<void> {
  if (ci.provider === 'none') return;
  const mode = (ci.whenUnavailable as string | undefined) ?? 'wait';
  if (mode !== 'operator') {
    const { checks } = await ciChecks(ci).waitForChecks({ ci, commit });
    state.record(`CI checks passed: ${checks.join(', ') || '(none reported)'}`);
    return;
  }
  const startedAt = Date.now();
  for (;;) {
    const { checks, unavailable } = await ciChecks(ci).waitForChecks({ ci, commit, reportUnavailable: true, startedAt });
    if (!unavailable) {
      state.ciReadable();
      state.record(`CI checks passed: ${checks.join(', ') || '(none reported)'}`);
      return;
    }
    // An acceptance made while the last round ran is what this outage needs.
    if (state.uncheckedAcceptance) return;
    state.ciUnreadable({ commit, since: unavailable.since, error: unavailable.error, checks: ci.requiredChecks });
    // Ask again after a poll interval, unless an operator accepts first.
    if (await condition(() => state.uncheckedAcceptance !== null, ci.pollInterval)) return;
  }
}
