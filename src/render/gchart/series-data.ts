import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';

/** One series of values; null is a missing point ("_" in every encoding). */
export type Series = Array<number | null>;

const SIMPLE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const EXTENDED = `${SIMPLE}-.`;

interface Range {
  min: number;
  max: number;
}

/**
 * Google Image Charts `chd` (with `chds` scaling) to series, as QuickChart reads
 * it: `t:` text (values outside the range: below is missing, above is the top;
 * 0-100 when no `chds`, `chds=a` keeps every value), `s:` simple (A-Z a-z 0-9 as
 * 0-61), `e:` extended (two characters a value, 0-4095), and QuickChart's `a:`
 * (text, auto-scaled). `t1:`-style series counts are accepted and ignored.
 */
export function parseSeriesData(chd: string | undefined, chds: string | undefined): Series[] {
  if (chd === undefined || chd === '') {
    throw new ChartdError('GCHART_INVALID', 'chd is required: the data, e.g. chd=t:10,20,30 (text), s:ATb (simple) or e:AAgA (extended)');
  }
  const match = /^([tsea])\d*:(.*)$/s.exec(chd);
  if (!match) {
    throw new ChartdError('GCHART_INVALID', `chd must start with an encoding, t:, s:, e: or a:, got "${truncate(chd, 32)}"`);
  }
  const [, encoding, body] = match as unknown as [string, 't' | 's' | 'e' | 'a', string];
  switch (encoding) {
    case 't':
      return chds?.trim() === 'a' ? parseText(body, 'chd') : scaleText(parseText(body, 'chd'), parseRanges(chds));
    case 'a':
      return parseText(body, 'chd');
    case 's':
      return body.split(',').map((series) => [...series].map((ch) => decodeSimple(ch)));
    case 'e':
      return body.split(',').map((series) => decodeExtended(series));
  }
}

function parseText(body: string, field: string): Series[] {
  return body.split('|').map((series) =>
    series.split(',').map((value) => {
      const text = value.trim();
      if (text === '_' || text === '') return null;
      const number = Number(text);
      if (!Number.isFinite(number)) throw new ChartdError('GCHART_INVALID', `${field} has "${truncate(text, 16)}", which is not a number`);
      return number;
    }),
  );
}

/** `chds=min,max[,min,max...]`: one pair a series, the last pair for the rest; 0-100 without it. */
function parseRanges(chds: string | undefined): Range[] {
  if (chds === undefined || chds.trim() === '') return [{ min: 0, max: 100 }];
  const numbers = chds.split(',').map((value) => Number(value.trim()));
  if (numbers.length % 2 !== 0 || numbers.some((number) => !Number.isFinite(number))) {
    throw new ChartdError('GCHART_INVALID', `chds must be "a" or pairs of numbers min,max[,min,max...], got "${truncate(chds, 32)}"`);
  }
  const ranges: Range[] = [];
  for (let i = 0; i < numbers.length; i += 2) ranges.push({ min: numbers[i]!, max: numbers[i + 1]! });
  return ranges;
}

function scaleText(series: Series[], ranges: Range[]): Series[] {
  return series.map((values, index) => {
    const range = ranges[Math.min(index, ranges.length - 1)]!;
    return values.map((value) => {
      if (value === null || value < range.min) return null;
      return Math.min(value, range.max);
    });
  });
}

function decodeSimple(ch: string): number | null {
  if (ch === '_') return null;
  const value = SIMPLE.indexOf(ch);
  if (value === -1) throw new ChartdError('GCHART_INVALID', `chd=s: takes A-Z, a-z, 0-9 and _, not "${truncate(ch, 4)}"`);
  return value;
}

function decodeExtended(series: string): Series {
  if (series.length % 2 !== 0) throw new ChartdError('GCHART_INVALID', 'chd=e: takes two characters a value; a series has an odd length');
  const values: Series = [];
  for (let i = 0; i < series.length; i += 2) {
    const word = series.slice(i, i + 2);
    if (word === '__') {
      values.push(null);
      continue;
    }
    const high = EXTENDED.indexOf(word[0]!);
    const low = EXTENDED.indexOf(word[1]!);
    if (high === -1 || low === -1) throw new ChartdError('GCHART_INVALID', `chd=e: takes A-Z, a-z, 0-9, - and . in pairs (or __), not "${truncate(word, 4)}"`);
    values.push(high * EXTENDED.length + low);
  }
  return values;
}
