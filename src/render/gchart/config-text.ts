import { randomUUID } from 'node:crypto';

/**
 * A function in a generated config: its JavaScript source. Values it needs are
 * embedded with JSON.stringify, never spliced in as code, so no request parameter
 * becomes code; and the text runs in the render sandbox like any config anyway.
 */
export class ConfigFunction {
  constructor(readonly source: string) {}
}

/** `function (params) { body }` with `values` bound as JSON constants at the top. */
export function configFunction(params: string, values: Record<string, unknown>, body: string): ConfigFunction {
  const constants = Object.entries(values)
    .map(([name, value]) => `var ${name} = ${JSON.stringify(value)};`)
    .join(' ');
  return new ConfigFunction(`function (${params}) { ${constants} ${body} }`);
}

/**
 * A config as JavaScript text: JSON, with each ConfigFunction written as its
 * source. Plain JSON when there is no function, so it takes the sandbox-free path.
 */
export function toConfigText(config: unknown, indent = 0): string {
  const functions: string[] = [];
  // A placeholder no request can guess, so no string of the config is mistaken for one.
  const nonce = randomUUID();
  const json = JSON.stringify(
    config,
    (_key, value: unknown) => {
      if (!(value instanceof ConfigFunction)) return value;
      functions.push(value.source);
      return `${nonce}:${functions.length - 1}`;
    },
    indent,
  );
  return json.replace(new RegExp(`"${nonce}:(\\d+)"`, 'g'), (_match, index: string) => functions[Number(index)]!);
}

export function hasFunctions(config: unknown): boolean {
  let found = false;
  JSON.stringify(config, (_key, value: unknown) => {
    if (value instanceof ConfigFunction) found = true;
    return value;
  });
  return found;
}
