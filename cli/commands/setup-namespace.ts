// `gantry setup-namespace`: registers Gantry's search attributes on an existing Temporal namespace through
// the operator service (the dev-server helper passes them on the command line instead). Safe to re-run.
import proto from '@temporalio/proto';
import { connectClient } from '../../client/connection';
import { searchAttributes } from '../../workflows/api';
import { CliExit, ExitCode } from '../exit-codes';

const { temporal } = proto;
const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export async function setupNamespaceCommand(): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const namespace = client.options.namespace;
    const operator = client.connection.operatorService;
    const existing = (await operator.listSearchAttributes({ namespace })).customAttributes ?? {};
    const wanted = Object.values(searchAttributes).map((key) => key.name);
    const wrongType = wanted.filter((name) => name in existing && existing[name] !== KEYWORD);
    if (wrongType.length > 0) {
      const found = wrongType.map((name) => `${name} is ${temporal.api.enums.v1.IndexedValueType[existing[name]!]}`).join(', ');
      throw new CliExit(`namespace ${namespace}: ${found}; Gantry needs Keyword. Remove them (temporal operator search-attribute remove) and run this again`, ExitCode.error);
    }
    const missing = wanted.filter((name) => !(name in existing));
    if (missing.length > 0) {
      await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])) });
    }
    console.log(missing.length > 0 ? `namespace ${namespace}: added ${missing.join(', ')} (Keyword)` : `namespace ${namespace}: search attributes already registered`);
    return ExitCode.ok;
  } finally {
    await close();
  }
}
