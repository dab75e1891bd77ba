/** Reading campaign stores in tests. */
import assert from 'node:assert/strict';
import { openStore, type StoredTrial } from '../../src/campaign/index.js';

/** Per-trial results (not timings) of the only campaign in a store, as sorted JSON rows. */
export function trialsOf(db: string): string[] {
  const s = openStore(db, { readonly: true });
  try {
    const c = s.listCampaigns();
    assert.equal(c.length, 1);
    return s
      .trials(c[0]!.id)
      .map((t: StoredTrial) => JSON.stringify([t.ber, t.trial, t.accuracy, t.sdc, t.due, t.faults, t.images ?? null]))
      .sort();
  } finally {
    s.close();
  }
}
