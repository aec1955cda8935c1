import { describe, expect, it } from 'vitest';
import { rankAgreement } from './agreement.js';

const cells = (scores: number[]) => scores.map((score, i) => ({ layer: 0, expert: i, score }));

describe('rankAgreement', () => {
  it("Spearman's rho and top-N overlap by hand", () => {
    // ranks 1,2,3,4 vs 1,2,4,3: d^2 = 2, rho = 1 - 6*2 / (4*(16-1)) = 0.8
    const a = rankAgreement(cells([4, 3, 2, 1]), cells([4, 3, 1, 2]), 2);
    expect(a.spearman).toBeCloseTo(0.8, 12);
    expect(a.overlap).toBe(2);
    // reversed order: rho = -1, top-1 lists differ
    const b = rankAgreement(cells([4, 3, 2, 1]), cells([1, 2, 3, 4]), 1);
    expect(b.spearman).toBeCloseTo(-1, 12);
    expect(b.overlap).toBe(0);
    expect(b.n).toBe(4);
  });
  it('compares only the experts both rankings score', () => {
    const a = rankAgreement(
      cells([3, 2, 1]),
      [
        { layer: 0, expert: 0, score: 5 },
        { layer: 0, expert: 2, score: 1 },
        { layer: 1, expert: 0, score: 9 },
      ],
      1,
    );
    expect(a.n).toBe(2);
    expect(a.spearman).toBeCloseTo(1, 12);
    expect(() => rankAgreement(cells([1]), cells([1]))).toThrow(/share 1 experts/);
  });
});
