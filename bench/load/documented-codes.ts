import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/**
 * The error codes docs/API.md publishes, with their HTTP status, read from its
 * table (`| \`CODE\` | 400 | meaning |`): a load run checks every error answer
 * against the documentation, not against the code that produced it.
 */
export function readDocumentedCodes(file = join(REPO_ROOT, 'docs', 'API.md')): Map<string, number> {
  const codes = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    if (match) codes.set(match[1]!, Number(match[2]));
  }
  if (codes.size === 0) throw new Error(`no error code table found in ${file}`);
  return codes;
}
