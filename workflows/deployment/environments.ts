// `gantry environments`: what the orchestrator knows, read by its own worker (a short workflow, so the
// CLI needs no access to the orchestrator's disk).
import type { EnvironmentListing } from '../api';
import { definitions } from '../common/proxies';

export async function listEnvironments(): Promise<EnvironmentListing> {
  return definitions.listEnvironments();
}
