// The `gantry` command. Each command lives in its own file; this one registers them and maps errors
// to exit codes and one-line messages.
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { loadNodeConfig } from '../lib/config/node-config';
import { GantryError } from '../lib/core/errors';
import { createLogger } from '../lib/core/logger';
import { runAgent } from '../workers/agent';
import { ConnectionError } from '../client/connection';
import { DEFAULT_DEPLOYMENT_NAME } from '../client/worker-deployment';
import { runOrchestratorWorker } from '../workers/orchestrator';
import { installRuntime } from '../workers/runtime';
import { auditCommand } from './commands/audit';
import { checkCommand } from './commands/check';
import { codecServerCommand, type CodecServerCommandOptions } from './commands/codec-server';
import { deployCommand } from './commands/deploy';
import { environmentsCommand } from './commands/environments';
import { listCommand } from './commands/list';
import { lockCommand, type LockAction, type LockOptions } from './commands/lock';
import { whyCommand } from './commands/why';
import { operatorCommand, type OperatorAction, type OperatorOptions } from './commands/operator';
import { rollbackCommand } from './commands/rollback';
import { promoteCommand } from './commands/promote';
import { switchBackCommand, type SwitchBackOptions } from './commands/switch-back';
import { repairCommand } from './commands/repair';
import { setupNamespaceCommand } from './commands/setup-namespace';
import { webhookCommand } from './commands/webhook';
import { statusCommand } from './commands/status';
import { versionsCommand } from './commands/versions';
import { CliExit, ExitCode } from './exit-codes';
import { defaultTaskQueue } from './task-queue';
import { setting } from '../lib/config/settings';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
};

// With --json, CI reads exactly one JSON object on stdout whatever happens, refusals and errors included.
const jsonWanted = process.argv.includes('--json');

function fail(message: string, code: number, shown = false): never {
  if (jsonWanted) console.log(JSON.stringify({ status: code === ExitCode.rejected ? 'rejected' : 'error', error: message }));
  if (!shown) console.error(`gantry: ${message}`);
  process.exit(code);
}

const program = new Command('gantry')
  .description('Durable rolling deployments on Temporal')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Usage errors are rejected input.
    if (err.exitCode === 0) process.exit(0);
    fail(err.message.replace(/^error: /, ''), ExitCode.rejected, true); // commander has shown it
  });

let exitCode: number = ExitCode.ok;

/** What `deploy` and `rollback` share: waiting, JSON output, who asks, which orchestrator. */
function withOutcomeOptions(command: Command): Command {
  return command
    .option('--wait', 'wait for the outcome; exit 0 only if the release went live', false)
    .option('--json', 'print one JSON object on stdout', false)
    .option('--requested-by <name>', 'who asks (default: the OS user)')
    .option('--task-queue <name>', 'orchestrator task queue', defaultTaskQueue());
}

const deploy = program
  .command('deploy')
  .description("deploy a release (a pushed git tag) to an environment, under the orchestrator's definition of it")
  .argument('<env>', 'environment name, e.g. prod (gantry environments lists them)')
  .argument('<tag>', 'release tag, e.g. v1.4.2')
  .requiredOption('--sha256 <hex>', "sha256 of the artifact (fetched from the definition's artifact.url)")
  .option('--commit <sha>', 'the commit the tag must point at (refused on mismatch)');
withOutcomeOptions(deploy).action(async (environment: string, tag: string, options: Parameters<typeof deployCommand>[2]) => {
    exitCode = await deployCommand(environment, tag, options);
  });

const promote = program
  .command('promote')
  .description("deploy to --to the artifact that went live in the stage before it (its definition's promotion.from), once it baked there")
  .argument('<release>', 'the release, e.g. v1.4.2')
  .requiredOption('--to <env>', 'the environment to promote into, e.g. prod')
  .option('--sha256 <hex>', 'the digest you expect (refused unless upstream ran exactly this artifact)');
withOutcomeOptions(promote).action(async (release: string, options: Parameters<typeof promoteCommand>[1]) => {
    exitCode = await promoteCommand(release, options);
  });

const rollback = program
  .command('rollback')
  .description('go back to the release the latest deployment replaced (or --to one every node still keeps); downloads nothing')
  .argument('<env>', 'environment name')
  .option('--to <release>', 'release to return to');
withOutcomeOptions(rollback).action(async (environment: string, options: Parameters<typeof rollbackCommand>[1]) => {
    exitCode = await rollbackCommand(environment, options);
  });

const repair = program
  .command('repair')
  .description('read HAProxy and every agent, and bring the fleet to one release (the one most nodes serve healthily, or --to), each node healthy and in rotation; changes only what is off')
  .argument('<env>', 'environment name')
  .option('--to <release>', 'the release to bring every node to (one each node keeps)')
  .option('--terminate', 'end a deployment still running (stuck) first, without compensation', false);
withOutcomeOptions(repair).action(async (environment: string, options: Parameters<typeof repairCommand>[1]) => {
    exitCode = await repairCommand(environment, options);
  });

program
  .command('switch-back')
  .description('blue-green: send users back to the pool that served before the last switch, at once, while it is warm (keepWarm)')
  .argument('<env>', 'environment name')
  .requiredOption('--as <name>', 'who switches back (kept in the event log)')
  .option('--reason <text>', 'why; kept in the event log')
  .option('--key <file>', 'sign with this SSH key (through ssh-agent when it holds the key); without it, ssh-agent\'s first key where the environment checks control signatures')
  .option('--no-sign', 'send unsigned even when a key is at hand')
  .option('--valid-for <duration>', 'how long the signed statement stays valid', '10m')
  .option('--json', 'print one JSON object on stdout', false)
  .action(async (environment: string, options: SwitchBackOptions) => {
    exitCode = await switchBackCommand(environment, options);
  });

const operatorActions: [OperatorAction, string][] = [
  ['approve', 'approve the deployment awaiting approval'],
  ['reject', 'reject the release awaiting approval: the deployment ends aborted, no node changed'],
  ['abort', 'abort the deployment; changed nodes go back to their previous release'],
  ['pause', 'hold the deployment before its next batch'],
  ['resume', 'let a paused deployment go on'],
  ['accept-unchecked', "go on without the CI checks the provider cannot answer for (only where ci.whenUnavailable is operator; recorded with who and why)"],
];
for (const [action, description] of operatorActions) {
  const command = program
    .command(action)
    .description(description)
    .argument('<env>', 'environment name')
    .requiredOption('--as <name>', 'who you are: your principal in the allowed-signers file when you sign')
    .option('--key <file>', 'sign with this SSH key (through ssh-agent when it holds the key); without it, ssh-agent\'s first key where the environment checks signatures')
    .option('--no-sign', 'send unsigned even when a key is at hand')
    .option('--run <id>', 'the run you looked at (gantry status); refused if the running deployment is another')
    .option('--valid-for <duration>', 'how long the signed statement stays valid', '10m')
    .option('--json', 'print the new status as one JSON object', false);
  if (action === 'approve') command.option('--comment <text>', 'a note kept in the event log');
  if (action === 'abort' || action === 'reject' || action === 'accept-unchecked') command.requiredOption('--reason <text>', 'why; kept in the event log and the notification');
  command.action(async (environment: string, options: OperatorOptions) => {
    exitCode = await operatorCommand(action, environment, options);
  });
}

const queueActions: [LockAction, string][] = [
  ['lock', 'lock the environment: deployments wait (rollbacks never do) until gantry unlock or --for/--until'],
  ['unlock', 'lift the lock'],
  ['freeze', 'freeze the environment until a time: deployments wait (rollbacks never do)'],
  ['unfreeze', 'end the freeze now'],
];
for (const [action, description] of queueActions) {
  const command = program
    .command(action)
    .description(description)
    .argument('<env>', 'environment name')
    .option('--as <name>', 'who you are (default: the OS user)')
    .option('--task-queue <name>', 'orchestrator task queue', defaultTaskQueue())
    .option('--json', "print the queue's status as one JSON object", false);
  if (action === 'lock' || action === 'freeze') {
    command
      .requiredOption('--reason <text>', 'why; gantry why shows it to everyone waiting')
      .option('--for <duration>', 'ends after this long, e.g. 2h')
      .option('--until <time>', 'ends at this ISO time, e.g. 2026-12-24T18:00:00Z');
  }
  command.action(async (environment: string, options: LockOptions) => {
    exitCode = await lockCommand(action, environment, options);
  });
}

program
  .command('why')
  .description('name the one condition holding the next deployment, and what would clear it')
  .argument('<env>', 'environment name')
  .option('--json', 'print one JSON object on stdout', false)
  .action(async (environment: string, options: { json: boolean }) => {
    exitCode = await whyCommand(environment, options);
  });

program
  .command('status')
  .description("show an environment's latest deployment")
  .argument('<env>', 'environment name')
  .option('--json', 'print one JSON object on stdout', false)
  .action(async (environment: string, options: { json: boolean }) => {
    exitCode = await statusCommand(environment, options);
  });

program
  .command('environments')
  .description('list the environment definitions the orchestrator deploys by, with their sha256')
  .option('--task-queue <name>', 'orchestrator task queue', defaultTaskQueue())
  .option('--json', 'print one JSON object', false)
  .action(async (options: { taskQueue: string; json: boolean }) => {
    exitCode = await environmentsCommand(options);
  });

program
  .command('audit')
  .description("write a deployment run's signed statements, signatures and allowed-signers files, with a script that re-verifies them with plain ssh-keygen")
  .argument('<env>', 'environment name')
  .option('--run <id>', 'the run (default: the latest)')
  .requiredOption('--out <dir>', 'directory to write the bundle to')
  .option('--json', 'print the manifest as one JSON object', false)
  .action(async (environment: string, options: { run?: string; out: string; json: boolean }) => {
    exitCode = await auditCommand(environment, options);
  });

program
  .command('check')
  .description("validate environment definitions offline (for the config repository's CI); --node: node configs")
  .argument('<file...>', 'definition files (<name>.yaml)')
  .option('--node', 'the files are node configs (gantry agent --config)', false)
  .option('--json', 'print one JSON array', false)
  .action(async (files: string[], options: { node: boolean; json: boolean }) => {
    exitCode = await checkCommand(files, options);
  });

program
  .command('list')
  .description('list deployments through their search attributes (newest first)')
  .option('--env <name>', 'only this environment')
  .option('--phase <phase>', 'only deployments in this phase (e.g. rollout, live, rolled-back)')
  .option('--limit <n>', 'at most this many', positiveInt, 20)
  .option('--json', 'print one JSON array', false)
  .action(async (options: { env?: string; phase?: string; limit: number; json: boolean }) => {
    exitCode = await listCommand(options);
  });

program
  .command('codec-server')
  .description('decrypt payloads for the Temporal Web UI and `temporal --codec-endpoint` (Temporal remote-codec protocol), with the keys in GANTRY_CODEC_KEYS')
  .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8234')
  .option('--origin <url>', "the Web UI's origin, the only one browsers are served from", 'http://127.0.0.1:8233')
  .option('--token-file <file>', 'file holding the bearer token every request must carry', setting('GANTRY_CODEC_TOKEN_FILE'))
  .action(async (options: CodecServerCommandOptions) => {
    exitCode = await codecServerCommand(options, createLogger('gantry-codec-server'));
  });

program
  .command('setup-namespace')
  .description("register Gantry's search attributes on the namespace (TEMPORAL_NAMESPACE or the profile's); safe to re-run")
  .action(async () => {
    exitCode = await setupNamespaceCommand();
  });

program
  .command('webhook')
  .description('receive GitHub push (tag) and check_suite deliveries and start the deployments they map to')
  .requiredOption('--config <file>', 'webhook config (YAML): secret and routes')
  .option('--port <n>', 'port to listen on', positiveInt, 8787)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--task-queue <name>', 'orchestrator task queue', defaultTaskQueue())
  .action(async (options: { config: string; port: number; host: string; taskQueue: string }) => {
    exitCode = await webhookCommand(options, createLogger('gantry-webhook'));
  });

program
  .command('worker')
  .description('run the orchestrator worker (workflows and control activities), as one build of the Worker Deployment')
  .option('--task-queue <name>', 'task queue to poll', defaultTaskQueue())
  .option('--deployment-name <name>', 'Worker Deployment this build belongs to', setting('GANTRY_DEPLOYMENT_NAME') ?? DEFAULT_DEPLOYMENT_NAME)
  .option('--make-current', 'make this build current once it polls, so new deployments start on it (an upgrade); without it, only when none is', false)
  .option('--metrics <host:port>', 'serve Prometheus metrics at http://<host:port>/metrics', setting('GANTRY_METRICS_ADDRESS'))
  .option('--environments <dir>', 'directory of environment definitions (<name>.yaml) this orchestrator deploys by', setting('GANTRY_ENVIRONMENTS'))
  .action(async (options: { taskQueue: string; deploymentName: string; makeCurrent: boolean; metrics?: string; environments?: string }) => {
    if (!options.environments) throw new CliExit('the orchestrator needs its environment definitions: set GANTRY_ENVIRONMENTS (or --environments) to their directory', ExitCode.rejected);
    const logger = createLogger('gantry-worker');
    installRuntime(logger, options.metrics);
    await runOrchestratorWorker(logger, { ...options, environments: path.resolve(options.environments) });
  });

program
  .command('versions')
  .description("list the orchestrator's builds: which is current, which still drain running deployments")
  .option('--deployment-name <name>', 'Worker Deployment', setting('GANTRY_DEPLOYMENT_NAME') ?? DEFAULT_DEPLOYMENT_NAME)
  .option('--json', 'print one JSON object', false)
  .action(async (options: { deploymentName: string; json: boolean }) => {
    exitCode = await versionsCommand(options);
  });

program
  .command('agent')
  .description("run a node's agent (polls the node's own task queue); what it may run comes from its node config only")
  .requiredOption('--config <file>', 'node config (YAML): environment, node, root, app, migrations, allowed artifact sources, secrets')
  .action(async (options: { config: string }) => {
    const config = await loadNodeConfig(options.config);
    const logger = createLogger('gantry-agent');
    installRuntime(logger);
    await runAgent(config, logger);
  });

program
  .command('demo')
  .description('start a local stack and deploy v1 then v2 of the sample app')
  .option('--once', 'exit after checking every node serves v2 (exit 0) instead of staying up', false)
  .option('--nodes <n>', 'number of nodes (blue-green: per pool)', positiveInt, 3)
  .option('--strategy <name>', 'rolling, or blue-green: two pools, a switch, then an instant switch back', 'rolling')
  .action(async (options: { once: boolean; nodes: number; strategy: string }) => {
    // Loaded only here: the demo runs the devkit, which a production build does not contain.
    const demo = await import('./commands/demo.ts').catch((err: unknown) => {
      throw new CliExit(`the demo needs a checkout of Gantry with its devkit/ (not part of a production build): ${(err as Error).message}`, ExitCode.error);
    });
    exitCode = await demo.demoCommand(options);
  });

program.parseAsync().then(
  () => process.exit(exitCode),
  (err: unknown) => {
    if (err instanceof CliExit) fail(err.message, err.code);
    if (err instanceof GantryError) fail(err.message, err instanceof ConnectionError ? ExitCode.error : ExitCode.rejected);
    if (!jsonWanted) console.error('gantry:', err);
    fail(err instanceof Error ? err.message : String(err), ExitCode.error);
  },
);
