import { writeSynthetic } from './synth.mjs';
import { ggufFromSynthetic } from './gguf.mjs';
import { convertCheckpoint } from '@mote/moe-runtime';
const t = performance.now();
writeSynthetic('/tmp/olmoe4', 'olmoe-1b-7b', 4, '/work/main/models/organism/model');
await convertCheckpoint('/tmp/olmoe4', { dtype: 'int4', cache: '/tmp/qcb' });
ggufFromSynthetic('/tmp/olmoe4', '/tmp/olmoe4/model-q4_0.gguf', 'q4_0');
console.log('prepared in', ((performance.now() - t) / 1000).toFixed(1), 's');
