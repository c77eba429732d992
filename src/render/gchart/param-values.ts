import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';

/** Google Image Charts parameter values (colours, numbers, sizes) checked one by one: a bad one is GCHART_INVALID naming its parameter. */

export function hexColor(field: string, value: string): string {
  const text = value.trim();
  if (!/^#?([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(text)) {
    throw new ChartdError('GCHART_INVALID', `${field} colours are hex RRGGBB or RRGGBBAA, got "${truncate(text, 16)}"`);
  }
  return text.startsWith('#') ? text : `#${text}`;
}

export function finiteNumber(field: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const number = Number(value.trim());
  if (!Number.isFinite(number)) throw new ChartdError('GCHART_INVALID', `${field} takes numbers, got "${truncate(value, 16)}"`);
  return number;
}

export function nonNegativeNumber(field: string, value: string | undefined): number | undefined {
  const number = finiteNumber(field, value);
  if (number !== undefined && number < 0) throw new ChartdError('GCHART_INVALID', `${field} takes numbers of 0 or more, got ${number}`);
  return number;
}

export function positiveNumber(field: string, value: string): number {
  const number = finiteNumber(field, value);
  if (number === undefined || number <= 0 || number > 1000) throw new ChartdError('GCHART_INVALID', `${field} takes a size from 1 to 1000, got "${truncate(value, 16)}"`);
  return number;
}

export function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
