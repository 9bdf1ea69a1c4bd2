// The release's configuration templates, rendered on the node with what the fleet knows (Handlebars,
// strict: a name the facts do not hold is an error naming it, never an empty string). Each template
// `<path>.hbs` in the release folder becomes `<path>` beside it, written whole (temp file, rename).
import Handlebars from 'handlebars';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const TEMPLATE_SUFFIX = '.hbs';

export class MissingFactError extends Error {
  override readonly name = 'MissingFactError';
  constructor(
    readonly template: string,
    readonly fact: string,
    message: string,
  ) {
    super(message);
  }
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** The file a template renders to: its own path without `.hbs`. */
export const targetOf = (template: string) => template.slice(0, -TEMPLATE_SUFFIX.length);

/** The dotted name at line:column of the source (Handlebars reports only its last segment). */
function nameAt(source: string, line: number | undefined, column: number | undefined, fallback: string): string {
  if (!line || column === undefined) return fallback;
  const text = source.split('\n')[line - 1] ?? '';
  return /^[\w@./-]+/.exec(text.slice(column))?.[0] ?? fallback;
}

/** Renders every template in `releaseDir` with `facts`; returns the files written. */
export async function renderTemplates(releaseDir: string, templates: readonly string[], facts: Record<string, unknown>): Promise<string[]> {
  const written: string[] = [];
  for (const template of templates) {
    const file = path.join(releaseDir, template);
    // The agent checks for itself: only files inside the release folder, and only *.hbs.
    const inside = path.relative(releaseDir, file);
    if (!template.endsWith(TEMPLATE_SUFFIX) || inside.startsWith('..') || path.isAbsolute(inside)) {
      throw new TemplateError(`template ${template} is not a .hbs file inside the release folder`);
    }
    const source = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new TemplateError(`template ${template} is not in release folder ${releaseDir} (${err.code ?? err.message}): the release must carry it, or config.templates must not name it`);
    });
    let text: string;
    try {
      // noEscape: configuration files, not HTML.
      text = Handlebars.compile(source, { strict: true, noEscape: true })(facts);
    } catch (err) {
      const e = err as Error & { lineNumber?: number; column?: number };
      const missing = /^"([^"]+)" not defined in/.exec(e.message);
      if (missing) {
        const fact = nameAt(source, e.lineNumber, e.column, missing[1]!);
        throw new MissingFactError(template, fact, `template ${template} (line ${e.lineNumber ?? '?'}) uses ${fact}, which the facts do not hold (they hold: ${Object.keys(facts).join(', ')})`);
      }
      throw new TemplateError(`template ${template} cannot be rendered: ${e.message}`);
    }
    const target = path.join(releaseDir, targetOf(template));
    const temp = `${target}.rendering-${process.pid}`;
    await writeFile(temp, text, { mode: 0o640 });
    await rename(temp, target);
    written.push(targetOf(template));
  }
  return written;
}
