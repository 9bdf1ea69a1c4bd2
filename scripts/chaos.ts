// `npm run chaos -- --trials N --seed S`: deployments under load with a fault each (picked at random,
// seeded, reproducible), checked for the right outcome, the fleet invariant, no duplicate app starts
// and no failed request through HAProxy. Prints a table of trials and a summary line.
import { Command, InvalidArgumentError } from 'commander';
import { FAULTS } from './chaos/faults';
import { seededRandom } from './chaos/random';
import { startChaosStack } from './chaos/stack';
import { runTrial, type TrialResult } from './chaos/trial';

const whole = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
};

export function printTable(results: TrialResult[], print: (line: string) => void): void {
  print(`${'#'.padEnd(4)}${'fault'.padEnd(18)}${'deploy'.padEnd(9)}${'outcome'.padEnd(9)}${'ok'.padEnd(4)}${'sent'.padStart(6)}${'failed'.padStart(7)}${'p99 before'.padStart(11)}${'p99 during'.padStart(11)}${'recovery'.padStart(10)}  moment`);
  for (const r of results) {
    print(
      `${String(r.trial).padEnd(4)}${r.fault.padEnd(18)}${`${r.from}→${r.to}`.padEnd(9)}${r.outcome.padEnd(9)}${(r.ok ? 'yes' : 'NO').padEnd(4)}` +
        `${String(r.before.sent + r.during.sent + r.after.sent).padStart(6)}${String(r.before.failed + r.during.failed + r.after.failed).padStart(7)}` +
        `${`${r.before.p99} ms`.padStart(11)}${`${r.during.p99} ms`.padStart(11)}${(r.recoveryMs !== undefined ? `${r.recoveryMs} ms` : '-').padStart(10)}  ${r.moment}`,
    );
    for (const p of r.problems) print(`      problem: ${p}`);
  }
  const sent = results.reduce((n, r) => n + r.before.sent + r.during.sent + r.after.sent, 0);
  const failed = results.reduce((n, r) => n + r.before.failed + r.during.failed + r.after.failed, 0);
  const recoveries = results.flatMap((r) => (r.recoveryMs !== undefined ? [r.recoveryMs] : []));
  print(
    `chaos: ${results.filter((r) => r.ok).length}/${results.length} correct outcomes; requests ${sent} sent, ${failed} failed; ` +
      `recovery after a restart: ${recoveries.length ? `max ${Math.max(...recoveries)} ms, mean ${Math.round(recoveries.reduce((a, b) => a + b, 0) / recoveries.length)} ms` : 'n/a'}`,
  );
}

async function main(): Promise<void> {
  const options = new Command('chaos').option('--trials <n>', 'how many trials', whole, 6).option('--seed <n>', 'random seed', whole, 1).parse().opts<{ trials: number; seed: number }>();
  const random = seededRandom(options.seed);
  const stack = await startChaosStack((line) => console.error(`setup: ${line}`));
  const results: TrialResult[] = [];
  try {
    let current = 'v1';
    for (let trial = 1; trial <= options.trials; trial++) {
      const fault = FAULTS[Math.floor(random() * FAULTS.length)]!;
      const to = current === 'v1' ? 'v2' : 'v1';
      const result = await runTrial(stack, trial, fault, current, to, random);
      console.error(`trial ${trial}: ${fault} — ${result.ok ? 'ok' : `NOT OK: ${result.problems.join('; ')}`}`);
      results.push(result);
      if (result.outcome === 'live') current = to;
    }
  } finally {
    await stack.close();
  }
  printTable(results, (line) => console.log(line));
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

if (process.argv[1]?.endsWith('chaos.ts')) {
  main().catch((err: unknown) => {
    console.error('chaos:', err);
    process.exit(1);
  });
}
