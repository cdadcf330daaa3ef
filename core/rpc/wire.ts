/**
 * The wire format shared by serveApi and connectApi, whatever the transport:
 *
 *   request   { id, method, arg }                       caller -> core
 *   response  { id, result } | { id, error }            core -> caller (id null: a message that could not be read)
 *   event     { event, payload }                        core -> caller
 *
 * Everything that crosses must be plain JSON (checked here, so a typed array or a Date fails loudly at the sender
 * instead of arriving mangled), and no message may exceed the size limit. Errors cross as { code, message,
 * details } and never carry a stack.
 */
import { z } from 'zod';
import { ApiErrorSchema, RPC_ERROR_CODES, type ApiErrorPayload } from '../api/contract.js';
import { CoreError, isCoreError } from '../api/errors.js';

/** Default limit on one message, as UTF-8 JSON. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 2 ** 20;

export const RequestMessageSchema = z.strictObject({
  id: z.number().int().nonnegative(),
  method: z.string().min(1).max(200),
  arg: z.unknown().optional(),
});

export const ResultMessageSchema = z.strictObject({ id: z.number().int().nonnegative(), result: z.unknown() });
export const ErrorMessageSchema = z.strictObject({ id: z.number().int().nonnegative().nullable(), error: ApiErrorSchema });
export const EventMessageSchema = z.strictObject({ event: z.string().min(1).max(200), payload: z.unknown() });

export type RequestMessage = z.output<typeof RequestMessageSchema>;
export type ResultMessage = z.output<typeof ResultMessageSchema>;
export type ErrorMessage = z.output<typeof ErrorMessageSchema>;
export type EventMessage = z.output<typeof EventMessageSchema>;

export type WireMessage =
  | { kind: 'request'; msg: RequestMessage }
  | { kind: 'result'; msg: ResultMessage }
  | { kind: 'error'; msg: ErrorMessage }
  | { kind: 'event'; msg: EventMessage }
  | { kind: 'invalid'; id: number | null; why: string };

/** Sorts an incoming message into one of the wire shapes, or says why it is none of them. */
export function classifyMessage(m: unknown): WireMessage {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { kind: 'invalid', id: null, why: `the message is ${describeValue(m)}, not an object` };
  const o = m as Record<string, unknown>;
  const id = typeof o.id === 'number' && Number.isInteger(o.id) && o.id >= 0 ? o.id : null;
  if ('method' in o) {
    const r = RequestMessageSchema.safeParse(m);
    return r.success ? { kind: 'request', msg: r.data } : { kind: 'invalid', id, why: `a request needs an integer id >= 0, a method name and an argument (${issueSummary(r.error)})` };
  }
  if ('event' in o) {
    const r = EventMessageSchema.safeParse(m);
    return r.success ? { kind: 'event', msg: r.data } : { kind: 'invalid', id: null, why: `an event needs a name and a payload (${issueSummary(r.error)})` };
  }
  if ('error' in o) {
    const r = ErrorMessageSchema.safeParse(m);
    return r.success ? { kind: 'error', msg: r.data } : { kind: 'invalid', id, why: `an error response needs an id and { code, message } (${issueSummary(r.error)})` };
  }
  if ('result' in o) {
    const r = ResultMessageSchema.safeParse(m);
    return r.success ? { kind: 'result', msg: r.data } : { kind: 'invalid', id, why: `a response needs an integer id >= 0 and a result (${issueSummary(r.error)})` };
  }
  return { kind: 'invalid', id, why: 'it is neither a request ({ id, method, arg }), a response ({ id, result | error }) nor an event ({ event, payload })' };
}

function issueSummary(e: z.ZodError): string {
  const i = e.issues[0];
  return `${pathText(i.path, 'the message')}: ${lowerFirst(i.message)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON and size checks

const MAX_DEPTH = 200;

/**
 * Why a value cannot cross as JSON, or null if it can. Accepts null, booleans, finite numbers, strings, arrays
 * and plain objects (an `undefined` property is allowed and dropped, as JSON.stringify does).
 */
export function jsonProblem(value: unknown, root: string): string | null {
  const ancestors = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): string | null => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return null;
    if (typeof v === 'number') return Number.isFinite(v) ? null : `${path} is ${String(v)}`;
    if (typeof v !== 'object') return `${path} is ${describeValue(v)}`;
    if (depth > MAX_DEPTH) return `${path} is nested more than ${MAX_DEPTH} levels deep`;
    if (ancestors.has(v)) return `${path} refers back to one of its parents (a cycle)`;
    if (Array.isArray(v)) {
      ancestors.add(v);
      for (let i = 0; i < v.length; i++) {
        if (v[i] === undefined) return `${path}[${i}] is undefined`;
        const p = walk(v[i], `${path}[${i}]`, depth + 1);
        if (p) return p;
      }
      ancestors.delete(v);
      return null;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return `${path} is ${describeValue(v)}`;
    ancestors.add(v);
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue;
      const p = walk(x, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, depth + 1);
      if (p) return p;
    }
    ancestors.delete(v);
    return null;
  };
  return walk(value, root, 0);
}

/** Bytes of the UTF-8 encoding of s, without allocating it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The JSON text checkMessage made of a message while measuring it, so a text transport sends that text instead of
 * serialising the message again (a live re-plan answers some 50 KB per edit). Keyed weakly by the message object,
 * which the caller does not change between the check and the send.
 */
const checkedText = new WeakMap<object, string>();

/** The message as JSON text: the one checkMessage already made, if any (taken once), else a fresh one. */
export function messageText(msg: unknown): string {
  if (msg !== null && typeof msg === 'object') {
    const text = checkedText.get(msg);
    if (text !== undefined) {
      checkedText.delete(msg);
      return text;
    }
  }
  return JSON.stringify(msg);
}

/**
 * Checks that a message is JSON and within the limit. `what` names it for the message, e.g. "The argument of
 * 'models.import'"; `root` is the name of the checked value in paths (e.g. `arg`). Returns a CoreError to throw or
 * send, or null when the message may go.
 */
export function checkMessage(msg: unknown, inner: unknown, what: string, root: string, maxBytes: number): CoreError | null {
  const problem = jsonProblem(inner, root);
  if (problem) {
    return new CoreError(
      RPC_ERROR_CODES.notJson,
      `${what} cannot be sent as JSON: ${problem}. Send plain objects, arrays, strings, finite numbers, booleans and null (encode binary data, e.g. as base64).`,
      { path: problem.split(' ')[0] },
    );
  }
  const text = JSON.stringify(msg);
  if (msg !== null && typeof msg === 'object') checkedText.set(msg, text);
  const bytes = utf8Length(text);
  if (bytes > maxBytes) {
    return new CoreError(
      RPC_ERROR_CODES.tooLarge,
      `${what} is ${formatBytes(bytes)}, over the ${formatBytes(maxBytes)} limit of one message. Send or ask for less per call (e.g. fewer rows).`,
      { bytes, maxBytes },
    );
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors across the boundary

const MAX_INTERNAL_MESSAGE = 500;

/**
 * The wire form of an error thrown by a handler. A CoreError keeps its code, message and (JSON) details; anything
 * else is a bug: it becomes `internal-error` with the first line of its message, and `onInternal` receives the
 * original (with its stack) for the core's log.
 */
export function toWireError(e: unknown, method: string | undefined, onInternal: (error: unknown) => void): ApiErrorPayload {
  if (isCoreError(e)) {
    const c = e as CoreError;
    const code = typeof c.code === 'string' && c.code ? c.code : RPC_ERROR_CODES.internal;
    const message = typeof c.message === 'string' ? c.message : String(c.message);
    if (c.details === undefined) return { code, message };
    if (jsonProblem(c.details, 'details') === null) return { code, message, details: c.details };
    onInternal(new Error(`CoreError '${code}' has details that are not JSON; they were dropped`));
    return { code, message };
  }
  onInternal(e);
  const raw = e instanceof Error ? e.message : String(e);
  let first = (raw.split('\n')[0] ?? '').trim();
  if (first.length > MAX_INTERNAL_MESSAGE) first = `${first.slice(0, MAX_INTERNAL_MESSAGE)}…`;
  const where = method ? ` in '${method}'` : '';
  return {
    code: RPC_ERROR_CODES.internal,
    message: `Internal error: ${first || 'unknown failure'}${/[.!?]$/.test(first) ? '' : '.'} This is a bug${where}; the core's log has the details.`,
  };
}

/** Revives a wire error as a CoreError on the caller's side. */
export function fromWireError(p: ApiErrorPayload): CoreError {
  return new CoreError(p.code, p.message, p.details);
}

// ---------------------------------------------------------------------------------------------------------------
// Argument issues in words

type PathPart = PropertyKey;

/** `cells[2].kind`, or `fallback` for the root. */
export function pathText(path: readonly PathPart[], fallback: string): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_$][\w$]*$/.test(p)) s += s ? `.${p}` : p;
    else s += `[${JSON.stringify(String(p))}]`;
  }
  return s || fallback;
}

function valueAt(root: unknown, path: readonly PathPart[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `the bigint ${v}`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

function lowerFirst(s: string): string {
  return s ? s[0].toLowerCase() + s.slice(1) : s;
}

interface IssueLike {
  code: string;
  path: PathPart[];
  message: string;
  keys?: string[];
}

function issueText(arg: unknown, issue: IssueLike): string {
  const where = pathText(issue.path, 'the argument');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue.keys ?? []).map((k) => `'${k}'`).join(', ');
    return `${where === 'the argument' ? 'the argument' : where} has unknown key${(issue.keys ?? []).length === 1 ? '' : 's'} ${keys}`;
  }
  const value = valueAt(arg, issue.path);
  if (value === undefined) {
    return issue.code === 'invalid_type' ? `${where} is missing (${lowerFirst(issue.message.replace(/, received undefined$/, ''))})` : `${where} is missing`;
  }
  if (issue.code === 'invalid_union') return `${where} is ${describeValue(value)}, which matches none of the accepted forms`;
  return `${where} is ${describeValue(value)} (${lowerFirst(issue.message)})`;
}

/** The CoreError for an argument that fails its schema: the first problem in words, all of them in details. */
export function invalidArgumentError(method: string, arg: unknown, error: z.ZodError): CoreError {
  const issues = error.issues as unknown as IssueLike[];
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return new CoreError(
    RPC_ERROR_CODES.invalidArgument,
    `Invalid argument for '${method}': ${issueText(arg, first)}${more}. Fix the argument; the schema is in core/api/contract.ts.`,
    {
      method,
      path: pathText(first.path, ''),
      issues: issues.slice(0, 20).map((i) => ({ path: pathText(i.path, ''), code: i.code, message: issueText(arg, i) })),
    },
  );
}
