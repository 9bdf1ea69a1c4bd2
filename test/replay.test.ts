// Replays the saved histories of real runs (test/replay/<scenario>/, written by
// scripts/record-histories.ts) against today's workflow code: a change that would break a running
// deployment fails here, naming the scenario, the workflow and the event.
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowBundle } from '../workers/workflow-bundle';
import { workerDataConverter } from '../client/data-converter';

const ROOT = path.join(import.meta.dirname, 'replay');
const SCENARIOS = [
  'first-deploy',
  'happy-path',
  'rollback-after-failed-health-check',
  'abort-during-approval',
  'approval-timeout',
  'continue-as-new',
  'downtime-mode',
  'manual-rollback',
  'signed-approval',
  'rollback-on-a-sick-fleet',
  'contract-failure',
  'operator-maint',
  'repair',
  'blue-green-switch-back',
  'blue-green-failed-health',
  'queue-latest-wins',
  'approval-by-authors',
  'configured-nodes',
  'ci-unavailable-accepted',
  'queue-fifo',
  'queue-batch-green',
];

/** Workflow types of the deployment bundle; every other saved history is a fleet child's. */
const DEPLOYMENT_BUNDLE = new Set(['deployment', 'warmPool', 'fleetSurvey', 'queue']);

interface Saved {
  /** The file's name stands for the workflow in failure messages. */
  file: string;
  type: string;
  /** The canonical proto JSON the temporal CLI writes; the SDK converts it. */
  history: { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] };
}

function load(scenario: string): Saved[] {
  const dir = path.join(ROOT, scenario);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Saved['history'];
      const started = history.events[0]?.workflowExecutionStartedEventAttributes;
      return { file, type: started?.workflowType?.name ?? '?', history };
    });
}

let bundles: { deployment: { code: string }; fleet: { code: string } };

describe('replay of saved histories', () => {
  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const logger = Runtime.instance().logger;
    bundles = { deployment: await workflowBundle(logger, 'deployment'), fleet: await workflowBundle(logger, 'fleet') };
  });

  it.each(SCENARIOS)('%s replays on the current workflow code', async (scenario) => {
    const saved = load(scenario);
    const types = new Set(saved.map((s) => s.type));
    expect(types.has('deployment'), `${scenario} holds a deployment history`).toBe(true);
    if (scenario.startsWith('queue-')) expect(types.has('queue'), `${scenario} holds its queue's history`).toBe(true);
    const failures: string[] = [];
    for (const bundle of ['deployment', 'fleet'] as const) {
      const mine = saved.filter((s) => DEPLOYMENT_BUNDLE.has(s.type) === (bundle === 'deployment'));
      if (mine.length === 0) continue;
      const results = Worker.runReplayHistories({ workflowBundle: bundles[bundle], dataConverter: workerDataConverter() }, mine.map(({ file, history }) => ({ workflowId: file, history })));
      for await (const result of results) {
        if (result.error) failures.push(`${scenario}/${result.workflowId}: ${result.error.name}: ${result.error.message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
