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
