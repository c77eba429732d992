// A small reader of Dockerfiles, enough to check deploy/Dockerfile in CI without a
// Docker engine: instructions with their line, line continuations (comment lines
// inside one are dropped, as BuildKit does), JSON (exec) and shell forms, stages,
// ARG defaults in FROM, ENV pairs, COPY sources and flags, HEALTHCHECK options,
// and .dockerignore patterns.

export interface Instruction {
  keyword: string;
  /** The arguments as written (continuations joined with a space). */
  args: string;
  /** The exec form's array when the arguments are a JSON array of strings. */
  json?: string[];
  line: number;
}

export interface Stage {
  /** FROM's image with ARG defaults substituted. */
  image: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  let current: { parts: string[]; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (/^\s*#/.test(raw) || (current === undefined && raw.trim() === '')) continue;
    if (current !== undefined && raw.trim() === '') continue;
    const continued = /\\\s*$/.test(raw);
    const part = continued ? raw.replace(/\\\s*$/, '') : raw;
    if (current === undefined) current = { parts: [], line: i + 1 };
    current.parts.push(part.trim());
    if (!continued) {
      const whole = current.parts.filter((p) => p !== '').join(' ');
      const match = /^(\S+)\s*(.*)$/.exec(whole)!;
      const instruction: Instruction = { keyword: match[1]!.toUpperCase(), args: match[2]!, line: current.line };
      const json = parseJsonArray(instruction.args);
      if (json) instruction.json = json;
      instructions.push(instruction);
      current = undefined;
    }
  }
  if (current !== undefined) throw new Error(`Dockerfile ends inside a line continuation (from line ${current.line})`);

  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const image = words[0]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_all, a: string | undefined, b: string | undefined) => {
        const name = (a ?? b)!;
        const value = args[name];
        if (value === undefined) throw new Error(`line ${instruction.line}: FROM uses $${name}, which no ARG before the first FROM defines`);
        return value;
      });
      const stage: Stage = { image, instructions: [] };
      if (words[1]?.toUpperCase() === 'AS' && words[2]) stage.name = words[2];
      stages.push(stage);
      continue;
    }
    if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      const [name, value] = splitOnce(instruction.args.trim(), '=');
      if (value !== undefined) args[name] = unquote(value);
      continue;
    }
    stages[stages.length - 1]!.instructions.push(instruction);
  }
  return { args, stages, instructions };
}

/** ENV's variables: `KEY=VALUE ...` pairs (values may be quoted), or the old `KEY VALUE` form. */
export function envPairs(instruction: Instruction): Record<string, string> {
  const text = instruction.args.trim();
  if (!/^[A-Za-z_][\w.-]*=/.test(text)) {
    const [name, value] = splitOnce(text, ' ');
    return { [name]: (value ?? '').trim() };
  }
  const pairs: Record<string, string> = {};
  for (const match of text.matchAll(/([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) pairs[match[1]!] = unquote(match[2]!);
  return pairs;
}

/** Every ENV of a stage, later ones winning. */
export function stageEnv(stage: Stage): Record<string, string> {
  return Object.assign({}, ...stage.instructions.filter((i) => i.keyword === 'ENV').map(envPairs)) as Record<string, string>;
}

export interface Copy {
  from?: string;
  sources: string[];
  destination: string;
  line: number;
}

/** COPY's flags (--from=stage), sources and destination, in either form. */
export function parseCopy(instruction: Instruction): Copy {
  const words = instruction.json ?? instruction.args.split(/\s+/).filter(Boolean);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  if (paths.length < 2) throw new Error(`line ${instruction.line}: COPY needs a source and a destination`);
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { ...(from === undefined ? {} : { from }), sources: paths.slice(0, -1), destination: paths[paths.length - 1]!, line: instruction.line };
}

export interface Healthcheck {
  options: Record<string, string>;
  /** The command as an argv (exec form), or ['/bin/sh', '-c', text] (shell form). */
  command: string[];
}

export function parseHealthcheck(instruction: Instruction): Healthcheck {
  const options: Record<string, string> = {};
  let rest = instruction.args.trim();
  for (let match = /^--([\w-]+)=(\S+)\s+/.exec(rest); match; match = /^--([\w-]+)=(\S+)\s+/.exec(rest)) {
    options[match[1]!] = match[2]!;
    rest = rest.slice(match[0].length);
  }
  const cmd = /^CMD\s+(.*)$/i.exec(rest);
  if (!cmd) throw new Error(`line ${instruction.line}: HEALTHCHECK without CMD (${rest})`);
  const json = parseJsonArray(cmd[1]!);
  return { options, command: json ?? ['/bin/sh', '-c', cmd[1]!] };
}

/** Docker's duration syntax (30s, 1m30s, 500ms) in ms. */
export function durationMs(text: string): number {
  let total = 0;
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  for (const part of parts) total += Number(part[1]) * units[part[2]!]!;
  return total;
}

/**
 * Whether .dockerignore keeps `path` (relative, '/'-separated) out of the build
 * context: the last matching pattern wins, `!` re-includes, a pattern matching a
 * directory matches what is under it. `*` and `?` stay within one path segment,
 * `**` spans any number of them.
 */
export function isIgnored(dockerignore: string, path: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const segments = path.replace(/^\.?\//, '').split('/');
  let ignored = false;
  for (const pattern of patterns) {
    const negate = pattern.startsWith('!');
    const glob = (negate ? pattern.slice(1) : pattern).replace(/^\/+/, '').replace(/\/+$/, '');
    const regex = globToRegex(glob);
    // The path itself or any directory above it.
    const matches = segments.some((_segment, i) => regex.test(segments.slice(0, i + 1).join('/')));
    if (matches) ignored = !negate;
  }
  return ignored;
}

function globToRegex(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (char === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function parseJsonArray(text: string): string[] | undefined {
  if (!text.trim().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\(.)/g, '$1');
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  return value;
}
