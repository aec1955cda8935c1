// Walks every architecture's config-field table (issue 12.7): each field HF's modelling code reads is
// implemented (the builder reads it), takes effect through the weights, is training-only or inert (changing
// it leaves the spec as it is), or is refused with E_CONFIG_INVALID for the values mote does not implement.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { ARCHITECTURES, CONFIG_FIELDS, ConfigReader, type ConfigFieldRule } from '@mote/moe-runtime';
import { FIXTURES } from './parity.js';

const spec = (raw: Record<string, unknown>, type: string) => {
  const c = new ConfigReader(raw, 'config.json', type);
  const s = ARCHITECTURES[type](c);
  const layers = Array.from({ length: s.layerCount }, (_, l) => s.weights.layer(l));
  return { c, text: JSON.stringify({ ...s, layers: layers.map((w) => ({ ...w, expert: w.expert?.(0) })) }) };
};
const kind = (r: ConfigFieldRule) => (typeof r === 'string' ? r : 'only' in r ? 'only' : 'inert');
/** a value of another type than anything a config holds, to show a field is not read */
const ODD = 12345.5;

describe('config-field tables', () => {
  for (const type of Object.keys(ARCHITECTURES).sort()) {
    const raw = JSON.parse(readFileSync(join(FIXTURES, 'tiny-moe', type, 'config.json'), 'utf8'));
    const table = CONFIG_FIELDS[type];

    it(`${type}: every field the builder reads is in its table as read`, () => {
      expect(table, `${type} has no field table`).toBeDefined();
      const { c } = spec(raw, type);
      for (const f of c.read)
        expect(
          table[f] === 'read' || (typeof table[f] === 'object' && 'only' in table[f]),
          `${type} reads ${f}, which its table marks ${JSON.stringify(table[f])}`,
        ).toBe(true);
    });

    it(`${type}: every field marked read is read, every training/inert/weights field leaves the spec unchanged`, () => {
      const base = spec(raw, type);
      for (const [f, rule] of Object.entries(table)) {
        const k = kind(rule);
        if (k === 'read') {
          const c = new ConfigReader(raw, 'config.json', type);
          ARCHITECTURES[type](c);
          expect(c.read.has(f), `${type}: ${f} is marked read but the builder never reads it`).toBe(true);
        } else if (k === 'training' || k === 'inert' || k === 'weights') {
          expect(spec({ ...raw, [f]: ODD }, type).text, `${type}: ${f} (${k}) changed the spec`).toBe(base.text);
        }
      }
    });

    it(`${type}: values a table does not allow are refused with E_CONFIG_INVALID naming the field`, async () => {
      const { inspectModel } = await import('@mote/moe-runtime');
      const { cpSync, mkdtempSync, writeFileSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      for (const [f, rule] of Object.entries(table)) {
        if (kind(rule) !== 'only') continue;
        const dir = mkdtempSync(join(tmpdir(), 'mote-fields-'));
        cpSync(join(FIXTURES, 'tiny-moe', type, 'config.json'), join(dir, 'config.json'));
        writeFileSync(
          join(dir, 'config.json'),
          JSON.stringify({ ...raw, [f]: f === 'hidden_act' || f === 'scoring_func' ? 'gelu' : true }),
        );
        let err: unknown;
        try {
          inspectModel(dir);
        } catch (e) {
          err = e;
        }
        expect(isMoteError(err, 'E_CONFIG_INVALID'), `${type}: ${f} not refused`).toBe(true);
        expect((err as { field: string }).field).toBe(f);
      }
    });
  }
});
