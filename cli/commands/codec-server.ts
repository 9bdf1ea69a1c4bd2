// `gantry codec-server`: decrypts payloads for the Temporal Web UI (and `temporal --codec-endpoint`)
// with this installation's keys. It refuses to run without keys or without a token: a codec server
// that answers anyone would hand history out in clear.
import { readFile } from 'node:fs/promises';
import { payloadCodec } from '../../client/data-converter';
import { startCodecServer } from '../../client/codec-server';
import type { Logger } from '../../lib/core/logger';
import { setting } from '../../lib/config/settings';
import { CliExit, ExitCode } from '../exit-codes';

export interface CodecServerCommandOptions {
  listen: string;
  origin: string;
  tokenFile?: string;
}

export async function codecServerCommand(options: CodecServerCommandOptions, logger: Logger): Promise<number> {
  const codec = payloadCodec();
  if (!codec.encrypting) throw new CliExit('GANTRY_CODEC_KEYS is unset: there is nothing to decode with; set it to the keys the workers use', ExitCode.rejected);
  const token = await readToken(options.tokenFile);
  const origin = parseOrigin(options.origin);
  const [host, port] = parseListen(options.listen);
  const server = await startCodecServer({ codec, token, allowedOrigin: origin, host, port, logger });
  console.error(`gantry codec-server: listening on ${server.url}; Web UI endpoint ${server.url}/<token> (origin ${origin})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return ExitCode.ok;
}

async function readToken(file: string | undefined): Promise<string> {
  const where = file ? `--token-file ${file}` : 'GANTRY_CODEC_TOKEN';
  const text = file
    ? await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliExit(`${where}: cannot read it (${err.code ?? err.message})`, ExitCode.rejected);
      })
    : setting('GANTRY_CODEC_TOKEN');
  if (text === undefined) throw new CliExit('the codec server needs a bearer token: set GANTRY_CODEC_TOKEN_FILE (or --token-file) to a file holding it, or GANTRY_CODEC_TOKEN (e.g. openssl rand -hex 32)', ExitCode.rejected);
  const token = text.trim();
  if (token.length < 16 || !/^[A-Za-z0-9._~-]+$/.test(token)) {
    throw new CliExit(`${where}: the token must be at least 16 URL-safe characters (letters, digits, . _ ~ -), e.g. openssl rand -hex 32`, ExitCode.rejected);
  }
  return token;
}

function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliExit(`--origin ${value}: expected the Web UI's origin, e.g. https://temporal-ui.example.com`, ExitCode.rejected);
  }
  if (url.origin !== value.replace(/\/$/, '')) throw new CliExit(`--origin ${value}: give only scheme://host[:port] (${url.origin})`, ExitCode.rejected);
  return url.origin;
}

function parseListen(value: string): [string, number] {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new CliExit(`--listen ${value}: expected host:port, e.g. 127.0.0.1:8234`, ExitCode.rejected);
  return [match[1]!.replace(/^\[|\]$/g, ''), port];
}
