// `extends:` in an environment definition: per-stage files without copies. A definition names a base
// file in its folder (e.g. `_base.yaml`; a name starting with `_` is never an environment itself) and
// overrides fields: objects merge key by key, anything else (lists, values) replaces, `null` removes.
// Bases may extend bases; a cycle or a missing base is an error naming the files.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../core/errors';

const MAX_DEPTH = 8;

type Raw = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` on top of `base`: objects merge, everything else replaces, null removes the key. */
export function mergeDefinition(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(out[key])) out[key] = mergeDefinition(out[key], value);
    else out[key] = value;
  }
  return out;
}

export interface ResolvedDefinition {
  raw: unknown;
  /** sha256 of the file's bytes alone, or, when it extends, of every file in the chain (its own first). */
  sha256: string;
  /** The files read, the definition's own first. */
  files: string[];
}

async function readYaml(file: string, from?: string): Promise<{ text: string; raw: unknown }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(from ? `environment file ${from} is invalid:\n  extends: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` : `cannot read environment file ${file}: ${(err as Error).message}`);
  }
  try {
    return { text, raw: parseYaml(text) };
  } catch (err) {
    throw new InputError(`environment file ${file} is not valid YAML: ${(err as Error).message}`);
  }
}

/** Reads `file` and every base it extends, merged; `extends` itself is gone from the result. */
export async function readWithBases(file: string): Promise<ResolvedDefinition> {
  const chain: { file: string; text: string; raw: unknown }[] = [];
  let current = path.resolve(file);
  let from: string | undefined;
  for (;;) {
    if (chain.some((c) => c.file === current)) throw new InputError(`environment file ${file} is invalid:\n  extends: ${[...chain.map((c) => c.file), current].join(' → ')} is a cycle`);
    if (chain.length > MAX_DEPTH) throw new InputError(`environment file ${file} is invalid:\n  extends: more than ${MAX_DEPTH} bases deep`);
    const { text, raw } = await readYaml(current, from);
    chain.push({ file: current, text, raw });
    const base = isPlainObject(raw) ? raw.extends : undefined;
    if (base === undefined) break;
    if (typeof base !== 'string' || base.trim() === '' || path.isAbsolute(base) || base.includes('..')) {
      throw new InputError(`environment file ${current} is invalid:\n  extends: expected a file in the same folder, e.g. "_base.yaml"`);
    }
    from = current;
    current = path.join(path.dirname(current), base);
  }
  if (chain.length === 1) return { raw: chain[0]!.raw, sha256: createHash('sha256').update(chain[0]!.text).digest('hex'), files: [chain[0]!.file] };
  let merged: Raw = {};
  for (const { file: f, raw } of [...chain].reverse()) {
    if (!isPlainObject(raw)) throw new InputError(`environment file ${f} is invalid:\n  expected a mapping of fields`);
    const { extends: _ignored, ...own } = raw;
    merged = mergeDefinition(merged, own);
  }
  const hash = createHash('sha256');
  for (const c of chain) hash.update(createHash('sha256').update(c.text).digest('hex')).update('\n');
  return { raw: merged, sha256: hash.digest('hex'), files: chain.map((c) => c.file) };
}
