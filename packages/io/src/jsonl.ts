// JSONL, one set of rules for every file mote reads or writes: one JSON value per line, blank lines skipped,
// errors name file and line. A log read to resume it may end in a torn line (a kill mid-append): that line
// is cut off the file and redone. Anywhere else a bad line is an error. Not the run folder (run.ts).

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { MoteError } from '@mote/tensor-core';
import { ioError, writeAll } from './atomic.js';

export interface JsonlLine<T = unknown> {
  value: T;
  /** 1-based line number in the file */
  line: number;
}

export interface ReadJsonlOptions {
  /**
   * The file is an append log being resumed: a last line without its newline is a torn append and is cut
   * off the file (it is redone), never parsed. Default false: every line must parse.
   */
  resume?: boolean;
  /** skip lines starting with // (default false) */
  comments?: boolean;
  /** what the file is, for messages (default "file") */
  what?: string;
  /** the fix named when a line is not JSON */
  fix?: string;
}

/**
 * Parse JSONL text. Returns the lines and the byte length of the part that holds complete lines (what a
 * resumed log keeps).
 * @example
 * parseJsonl('{"id":1}\n{"id":2}\n', 'a.jsonl').lines.map((l) => l.value); // [{id:1},{id:2}]
 */
export function parseJsonl<T = unknown>(
  text: string,
  file: string,
  opts: ReadJsonlOptions = {},
): { lines: JsonlLine<T>[]; keepBytes: number; torn: boolean } {
  let body = text;
  let torn = false;
  if (opts.resume && body.length && !body.endsWith('\n')) {
    body = body.slice(0, body.lastIndexOf('\n') + 1);
    torn = true;
  }
  const lines: JsonlLine<T>[] = [];
  const parts = body.split('\n');
  for (let i = 0; i < parts.length; i++) {
    const t = parts[i].trim();
    if (!t || (opts.comments && t.startsWith('//'))) continue;
    let value: T;
    try {
      value = JSON.parse(t) as T;
    } catch (e) {
      const fix = opts.fix ?? 'each line must be one JSON value; correct or delete that line';
      const msg = `${opts.what ?? 'file'} ${file}:${i + 1} is not valid JSON (${(e as Error).message}); fix: ${fix}`;
      throw new MoteError('E_INPUT', msg, { file, field: `line ${i + 1}` });
    }
    lines.push({ value, line: i + 1 });
  }
  return { lines, keepBytes: Buffer.byteLength(body), torn };
}

/** Read a whole text file, mapping Node errors (missing, a folder, unreadable) to MoteError. */
export function readText(file: string, what = 'file'): string {
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new MoteError('E_INPUT', `${what} ${file} is a folder; fix: give a file path`, { file });
    if (!st.isFile())
      throw new MoteError(
        'E_INPUT',
        `${what} ${file} is not a regular file (a FIFO, socket or device would block); fix: give a file path`,
        { file },
      );
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw ioError(e, file, `read ${what}`);
  }
}

/**
 * Read a JSONL file with line numbers. With `resume`, a missing file is empty and a torn last line is cut
 * off the file on disk.
 * @example
 * const prompts = readJsonlLines<{ id: string }>('prompts.jsonl', { what: 'prompt file' });
 */
export function readJsonlLines<T = unknown>(file: string, opts: ReadJsonlOptions = {}): JsonlLine<T>[] {
  if (opts.resume && !existsSync(file)) return [];
  const text = readText(file, opts.what);
  const r = parseJsonl<T>(text, file, opts);
  if (r.torn) {
    try {
      truncateSync(file, r.keepBytes);
    } catch (e) {
      throw ioError(e, file, 'repair (cut the torn last line of)');
    }
  }
  return r.lines;
}

/** The values of a JSONL file (see readJsonlLines). */
export function readJsonl<T = unknown>(file: string, opts: ReadJsonlOptions = {}): T[] {
  return readJsonlLines<T>(file, opts).map((l) => l.value);
}

/** JSONL text of values: one JSON.stringify per line, each line ending in a newline. */
export function toJsonl(values: readonly unknown[]): string {
  let s = '';
  for (const v of values) s += JSON.stringify(v) + '\n';
  return s;
}

/**
 * Append values to a log in one write, then fsync: a kill leaves whole lines plus at most one torn line,
 * which the next `readJsonl(file, { resume: true })` cuts off.
 * @example
 * appendJsonl('run/log.jsonl', [{ id: 'a', output: 'x' }]);
 */
export function appendJsonl(file: string, values: readonly unknown[]): void {
  if (!values.length) return;
  let fd: number | null = null;
  try {
    fd = openSync(file, 'a');
    writeAll(fd, toJsonl(values));
    fsyncSync(fd);
  } catch (e) {
    throw ioError(e, file, 'append to');
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
