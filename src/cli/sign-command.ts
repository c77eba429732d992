import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_SIGNED_URL_SECONDS, SigningKeyring, quickChartSignature, signChartUrl } from '../signing.js';

export const SIGN_HELP = `Usage: chartd sign <url> --account <id> [options]

Prints <url> signed for a chartd started with --signing-keys (docs/API.md,
"Signed URLs"): its query and the parameters below, with accountId and exp,
in canonical form, then &signature=<base64url HMAC-SHA256>.

Options:
  -a, --account <id>         the signing account (accountId)
      --signing-keys <file>  the keys file chartd serves with; its first key of
                             the account signs (default: $CHARTD_SIGNING_KEYS_FILE)
      --key <key>            the key itself instead (default: $CHARTD_SIGNING_KEY)
  -c, --config <file|->      a chart config file (JSON or JavaScript literal), sent as c
  -p, --param <name=value>   another parameter (w=600, f=svg, text=...); repeatable
      --body <file>          for a POST (/chart, /chart/create): the exact body to send;
                             its SHA-256 is signed
      --expires-in <seconds> how long the URL is valid (default ${DEFAULT_SIGNED_URL_SECONDS})
      --exp <unix seconds>   or when it expires
      --quickchart           QuickChart's signature instead: sig (hex HMAC of c, or
                             of text for /qr) and accountId; it signs nothing else
                             and never expires
  -h, --help                 this text

Example:
  chartd sign http://127.0.0.1:3400/chart --account acme \\
    --signing-keys keys.json -c bar.json -p w=600 -p h=300

Exit status: 0 on success; 2 for a bad option or key.
`;

export async function runSignCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        account: { type: 'string', short: 'a' },
        'signing-keys': { type: 'string' },
        key: { type: 'string' },
        config: { type: 'string', short: 'c' },
        param: { type: 'string', short: 'p', multiple: true },
        body: { type: 'string' },
        'expires-in': { type: 'string' },
        exp: { type: 'string' },
        quickchart: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(SIGN_HELP);
    return 0;
  }
  try {
    const [url, ...extra] = positionals;
    if (url === undefined || extra.length > 0) throw new TypeError('give exactly one URL, e.g. http://127.0.0.1:3400/chart');
    const accountId = stringValue(values.account);
    if (accountId === undefined) throw new TypeError('--account is required');
    const key = signingKey(accountId, stringValue(values.key), stringValue(values['signing-keys']));
    const params: Array<[string, string]> = [];
    const config = stringValue(values.config);
    if (config !== undefined) params.push(['c', readText(config).trim()]);
    for (const pair of (values.param as string[] | undefined) ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new TypeError(`--param takes name=value, got "${pair}"`);
      params.push([pair.slice(0, eq), pair.slice(eq + 1)]);
    }
    if (values.quickchart) {
      process.stdout.write(`${quickChartSignedUrl(url, params, accountId, key)}\n`);
      return 0;
    }
    const exp = stringValue(values.exp);
    const expiresIn = stringValue(values['expires-in']);
    if (exp !== undefined && !/^\d{1,11}$/.test(exp)) throw new TypeError(`--exp must be unix seconds, got "${exp}"`);
    if (expiresIn !== undefined && !/^\d{1,10}$/.test(expiresIn)) throw new TypeError(`--expires-in must be whole seconds, got "${expiresIn}"`);
    const bodyFile = stringValue(values.body);
    const signed = signChartUrl(url, {
      accountId,
      key,
      params,
      expiresAt: exp === undefined ? undefined : Number(exp),
      expiresInSeconds: expiresIn === undefined ? undefined : Number(expiresIn),
      body: bodyFile === undefined ? undefined : readBytes(bodyFile),
    });
    process.stdout.write(`${signed}\n`);
    return 0;
  } catch (error) {
    return fail((error as Error).message);
  }
}

function fail(message: string): number {
  process.stderr.write(`chartd sign: ${message}\n\nRun "chartd sign --help" for the options.\n`);
  return 2;
}

function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** --key, else $CHARTD_SIGNING_KEY, else the account's first key in --signing-keys or $CHARTD_SIGNING_KEYS_FILE. */
function signingKey(accountId: string, key: string | undefined, keysFile: string | undefined): string {
  const given = key ?? process.env.CHARTD_SIGNING_KEY;
  if (given !== undefined && given !== '') return given;
  const file = keysFile ?? process.env.CHARTD_SIGNING_KEYS_FILE;
  if (file === undefined || file === '') throw new TypeError('give --signing-keys FILE (or $CHARTD_SIGNING_KEYS_FILE), or --key');
  const keys = SigningKeyring.load(file, keysFile === undefined ? 'CHARTD_SIGNING_KEYS_FILE' : '--signing-keys').keysOf(accountId);
  if (!keys?.[0]) throw new TypeError(`${file} has no account "${accountId}"`);
  return keys[0];
}

function readText(file: string): string {
  return readBytes(file).toString('utf8');
}

function readBytes(file: string): Buffer {
  return file === '-' ? readFileSync(0) : readFileSync(file);
}

/** As quickchart-js's getSignedUrl builds it: the URL's parameters, then sig and accountId. */
function quickChartSignedUrl(url: string, params: Array<[string, string]>, accountId: string, key: string): string {
  const target = new URL(url);
  for (const [name, value] of params) target.searchParams.set(name, value);
  const signedName = target.pathname.endsWith('/qr') ? 'text' : 'c';
  const value = target.searchParams.get(signedName) ?? (signedName === 'c' ? target.searchParams.get('chart') : null);
  if (value === null || value === '') throw new TypeError(`--quickchart signs the URL's ${signedName}: give it (${signedName === 'c' ? '-c FILE or -p c=...' : '-p text=...'})`);
  target.searchParams.delete('sig');
  target.searchParams.set('sig', quickChartSignature(key, value));
  target.searchParams.set('accountId', accountId);
  return target.href;
}
