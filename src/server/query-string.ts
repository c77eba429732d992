/**
 * Parses a query string as QuickChart (Express) does for chart URLs: '+' stays a
 * plus sign (it is common in unencoded configs, e.g. "1e+5" or "a+b"), and a
 * malformed %-escape keeps its raw text instead of failing the request. A
 * repeated parameter counts once, the first time. The result has no prototype:
 * `constructor` and `__proto__` are ordinary parameter names.
 */
export function parseQueryString(query: string, plusAsSpace = false): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq === -1 ? part : part.slice(0, eq), plusAsSpace);
    if (Object.hasOwn(result, key)) continue;
    result[key] = eq === -1 ? '' : safeDecode(part.slice(eq + 1), plusAsSpace);
  }
  return result;
}

/**
 * The query of `url` read as HTML forms and URLSearchParams write it ('+' is a
 * space), or undefined when it has no '+' (both readings agree).
 */
export function queryIfPlusIsSpace(url: string): Record<string, string> | undefined {
  const start = url.indexOf('?');
  if (start === -1 || !url.includes('+', start)) return undefined;
  return parseQueryString(url.slice(start + 1), true);
}

function safeDecode(raw: string, plusAsSpace: boolean): string {
  const text = plusAsSpace ? raw.replaceAll('+', ' ') : raw;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
