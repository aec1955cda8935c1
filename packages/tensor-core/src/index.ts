// @mote/tensor-core: tensors, dtypes, safetensors, the ONNX graph builder and onnxruntime sessions.
export * from './errors.js';
export * from './schema-error.js';
export * from './tensor.js';
export * from './dtype.js';
export * from './safetensors.js';
export * from './onnx.js';
export * from './ort.js';
export * from './safetensors-write.js';
export * from './fp8.js';
export * from './quant.js';
