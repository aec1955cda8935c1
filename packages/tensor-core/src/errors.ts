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
  | 'E_MEMORY' // a load needs more memory than the process may use (checked before allocating)
  | 'E_WEIGHTS_NONFINITE' // a weight tensor holds NaN or Inf
  | 'E_IO'; // reading or writing a file failed

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
