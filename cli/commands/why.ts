// `gantry why <env>`: one line on what holds the next deployment, and one on what clears it.
import { connectClient } from '../../client/connection';
import { why } from '../../client/why';
import { requireEnvironmentName } from '../environment-name';
import { ExitCode } from '../exit-codes';

export async function whyCommand(environment: string, options: { json: boolean }): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const answer = await why(client, environment);
    if (options.json) console.log(JSON.stringify(answer));
    else {
      console.log(`${answer.kind}: ${answer.what}`);
      console.log(`clears: ${answer.clears}`);
      for (const line of answer.then ?? []) console.log(`then: ${line}`);
    }
    return ExitCode.ok;
  } finally {
    await close();
  }
}
