// readArrowFile: the bounded Arrow reader of trace parts; corrupt frames are E_INPUT, never a hang.

import * as arrow from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { isMoteError } from '@mote/tensor-core';
import { readArrowFile } from './arrow-file.js';

const table = () =>
  new arrow.Table({
    prompt_id: arrow.vectorFromArray(['a', 'b', 'c'], new arrow.Utf8()),
    layer: arrow.makeVector(Int32Array.from([0, 1, 2])),
  });
const bytes = () => arrow.tableToIPC(table(), 'file');
const code = (b: Uint8Array) => {
  try {
    readArrowFile(b, 'x.arrow');
    return 'valid';
  } catch (e) {
    if (!isMoteError(e)) throw e;
    expect(e.message).toContain('x.arrow');
    return e.code;
  }
};

describe('readArrowFile', () => {
  it('reads what apache-arrow writes', () => {
    const t = readArrowFile(bytes(), 'x.arrow');
    expect(t.numRows).toBe(3);
    expect([...t.getChild('prompt_id')!]).toEqual(['a', 'b', 'c']);
    expect(Array.from(t.getChild('layer')!.toArray() as Int32Array)).toEqual([0, 1, 2]);
  });

  // the fuzz hang (seed 20261130, trace reader case ~300-1000): byte 9 of prompts-00000.arrow ^ 140 turns the
  // continuation marker ff ff ff ff of the first block into ff 73 ff ff, a negative metadata length; apache-arrow
  // decodes a message of type NONE there and its tableFromIPC rereads that block forever
  it('a flipped continuation marker is E_INPUT (tableFromIPC loops forever on it)', () => {
    const b = Uint8Array.from(bytes());
    expect(Array.from(b.subarray(8, 12))).toEqual([0xff, 0xff, 0xff, 0xff]);
    b[9] ^= 140;
    expect(code(b)).toBe('E_INPUT');
  });

  it('every truncation and every single-byte flip is a table or E_INPUT', () => {
    const orig = bytes();
    for (let n = 0; n < orig.length; n++) expect(code(orig.subarray(0, n))).toBe('E_INPUT');
    const seen = new Set<string>();
    for (let i = 0; i < orig.length; i++)
      for (const x of [1, 0x80, 0xff]) {
        const b = Uint8Array.from(orig);
        b[i] ^= x;
        seen.add(code(b));
      }
    expect(seen).toContain('E_INPUT');
  });
});
