/**
 * The config's field types, shared by its parts: durations and sizes parsed into milliseconds and bytes (so inner
 * code never sees "30s" or "2Gi"), names safe to look up by, and counts.
 */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseDuration(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});
export const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseSize(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});
/** Names that are properties of every object (`constructor`, `__proto__`, `toString`): refused, so that no lookup by name can reach them. */
const RESERVED = new Set(Object.getOwnPropertyNames(Object.prototype));
export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((n) => !RESERVED.has(n), 'it is a property every JavaScript object already has (constructor, __proto__, toString, ...); choose another name');
export const count = z.number().int().min(0);
