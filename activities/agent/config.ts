// Rendering the release's configuration on the node, before it is activated: the facts come from the
// orchestrator (no secrets among them); a secret service endpoint is named by the variable that holds
// it here and read from this agent's own environment, so its value never leaves the node.
import { ApplicationFailure } from '@temporalio/activity';
import { failureTypes } from '../../lib/core/failure-types';
import { MissingFactError, renderTemplates, TemplateError } from '../../lib/node/config-templates';
import { notAllowed, requireRelease, type AgentDeps, type Exclusive } from './common';

export interface RenderConfigInput {
  release: string;
  templates: string[];
  /** environment, release, node, nodes, peers, pool, services (the plain ones). */
  facts: Record<string, unknown> & { services: Record<string, string> };
  /** Service name → the variable on this node that holds its URL. */
  secretServices: Record<string, string>;
}

export function createConfigActivities({ store, logger, config, commandEnv }: AgentDeps, exclusive: Exclusive) {
  const node = config.node;
  return {
    /** Idempotent: renders every template again from the same facts. Returns the files written and the facts' names. */
    async renderConfig({ release, templates, facts, secretServices }: RenderConfigInput): Promise<{ rendered: string[]; facts: string[] }> {
      requireRelease(release);
      return exclusive(async () => {
        if (!(await store.isStaged(release))) throw notAllowed(node, `to render configuration for release ${release}: it is not staged here`);
        const services: Record<string, string> = { ...facts.services };
        for (const [name, variable] of Object.entries(secretServices)) {
          const value = commandEnv[variable];
          if (!value) {
            throw ApplicationFailure.nonRetryable(
              `node ${node}: services.${name} comes from ${variable}, which this node does not hold; set it in the agent's environment or the node config's app.env`,
              failureTypes.missingFact,
            );
          }
          services[name] = value;
        }
        const names = [...Object.keys(facts).filter((k) => k !== 'services'), ...Object.keys(services).map((s) => `services.${s}${s in secretServices ? ' (secret, from the node)' : ''}`)];
        try {
          const rendered = await renderTemplates(store.releaseDir(release), templates, { ...facts, services });
          logger.info({ release, rendered, facts: names }, 'configuration rendered');
          return { rendered, facts: names };
        } catch (err) {
          if (err instanceof MissingFactError) {
            const fix = err.fact.startsWith('services.') ? `add ${err.fact.slice('services.'.length)} to config.services in the definition` : 'use one of the facts listed';
            throw ApplicationFailure.nonRetryable(`node ${node}: template ${err.template} uses ${err.fact}, which the fleet does not give (facts: ${names.join(', ')}); ${fix}`, failureTypes.missingFact);
          }
          if (err instanceof TemplateError) throw ApplicationFailure.nonRetryable(`node ${node}: ${err.message}`, failureTypes.templateInvalid);
          throw err;
        }
      });
    },
  };
}
