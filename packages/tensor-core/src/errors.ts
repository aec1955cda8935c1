// The one error type of mote: a stable `code` plus a message that names the file or field, the bad value
// and the fix. Every package throws MoteError; nothing here knows about models.

export type MoteErrorCode =
  | 'E_CONFIG_MISSING' // config.json not found
  | 'E_CONFIG_INVALID' // a config field is missing or has a bad value
  | 'E_ARCH_UNKNOWN' // model_type not registered
  | 'E_WEIGHTS_MISSING' // a tensor or shard is missing
  | 'E_SAFETENSORS_HEADER' // malformed header, offsets out of range
  | 'E_DTYPE' // dtype unsupported or not what the architecture expects
  | 'E_SHAPE' // tensor shape mismatch
  | 'E_TOKEN_RANGE' // token id outside the vocabulary
  | 'E_POLICY' // malformed or inconsistent intervention policy
  | 'E_INPUT' // bad user input (prompt files, options)
  | 'E_TOKENIZER' // tokenizer or chat template could not be loaded
  | 'E_RUNTIME' // onnxruntime failure
  | 'E_IO' // reading or writing a file failed
  | 'E_LOCKED' // another process holds the run folder or output file
  | 'E_RESUME' // an output holds a run made with other settings, or was not written by mote
  | 'E_NONFINITE' // NaN or Inf in a weight or an activation
  | 'E_MEMORY' // a load needs more memory than the process may use (checked before allocating)
  | 'E_LIMIT' // an input exceeds a size, length or time limit
  | 'E_INTERNAL' // an unexpected failure: a bug in mote
  | 'E_REMOTE_NO_ROUTES' // a served model returned no routed experts (server flag missing)
  | 'E_REMOTE_MODEL' // the server serves another model than the local config describes
  | 'E_REMOTE_SHAPE' // routed expert ids whose shape or range do not fit the config
  | 'E_REMOTE_HTTP' // HTTP error status after retries
  | 'E_REMOTE_JSON' // a response body that is not the protocol's JSON
  | 'E_REMOTE_TIMEOUT' // the server answered slower than the timeout
  | 'E_REMOTE_CONNECT' // the server could not be reached after retries
  | 'E_REMOTE_UNSUPPORTED' // a request a served model cannot answer (logits, policies on vLLM/SGLang)
  | 'E_EXPORT'; // a policy that cannot be written exactly into a checkpoint

export class MoteError extends Error {
  readonly code: MoteErrorCode;
  readonly file?: string;
  readonly field?: string;
  constructor(code: MoteErrorCode, message: string, where: { file?: string; field?: string } = {}) {
    super(`[${code}] ${message}`);
    this.name = 'MoteError';
    this.code = code;
    this.file = where.file;
    this.field = where.field;
  }
}

export function isMoteError(e: unknown, code?: MoteErrorCode): e is MoteError {
  return e instanceof MoteError && (code === undefined || e.code === code);
}

const IO_FIX: Record<string, (path: string) => string> = {
  ENOSPC: (p) => `no space left on the device while writing ${p}; fix: free disk space or write to another folder`,
  EDQUOT: (p) => `disk quota exceeded while writing ${p}; fix: free disk space or write to another folder`,
  ENOENT: (p) => `${p} does not exist (or a folder above it is missing); fix: check the path, or create the folder first`,
  EISDIR: (p) => `${p} is a folder where a file is expected; fix: give a file path`,
  ENOTDIR: (p) => `a part of ${p} is a file where a folder is expected; fix: check the path`,
  EACCES: (p) => `permission denied on ${p}; fix: check its permissions or write elsewhere`,
  EPERM: (p) => `operation not permitted on ${p}; fix: check its permissions or write elsewhere`,
  EROFS: (p) => `${p} is on a read-only file system; fix: write to another folder`,
  EEXIST: (p) => `${p} already exists`,
  EMFILE: (p) => `too many open files (at ${p}); fix: raise the open-file limit (ulimit -n)`,
};

/**
 * Any thrown value as a MoteError: MoteErrors pass through; Node file-system errors become E_IO naming the
 * path (err.path, else `path`: the file the caller was reading or writing) and the fix; out-of-memory errors E_LIMIT; anything else E_INTERNAL (a bug: the message says so).
 * @example
 *   try { writeFileSync('/dev/full', 'x'); } catch (e) { console.log(asMoteError(e).code); } // 'E_IO'
 */
export function asMoteError(e: unknown, path?: string): MoteError {
  if (e instanceof MoteError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (code && IO_FIX[code]) {
    const where = err.path ?? path ?? 'a file (the system did not say which)';
    return new MoteError('E_IO', `${IO_FIX[code](where)} (${code}${err.syscall ? ` in ${err.syscall}` : ''})`, { file: err.path ?? path });
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (
    code === 'ERR_WORKER_OUT_OF_MEMORY' ||
    /Array buffer allocation failed|Invalid typed array length|Invalid array length|out of memory/i.test(msg)
  )
    return new MoteError('E_LIMIT', `out of memory (${msg}); fix: use shorter inputs, a smaller --batch-size or --dtype int8`);
  return new MoteError('E_INTERNAL', `unexpected error: ${msg}; this is a bug in mote: rerun with --debug for the stack and report it`);
}
