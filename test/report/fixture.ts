/**
 * A results store with known trials, written through the store API (no model needed): an unprotected
 * baseline, a ProAct-hardened model with every optional artifact, a Ranger model whose highest BER has a
 * single trial (no confidence interval), and a campaign with no trials yet.
 */
import { join } from 'node:path';
import { openStore, type CampaignSpec, type JsonObject, type TrialRecord } from '../../src/campaign/index.js';
import { mulberry32 as random } from '../../src/data/index.js';

export const BERS = [1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5];
export const TRIALS_PER_BER = 12;

/** Hand-checked BER of the baseline: accuracies 0.10, 0.12, 0.14 -> mean 0.12, 95% CI 0.12 -/+ t(0.975, 2) * 0.02 / sqrt(3). */
export const HAND_BER = 1e-4;
export const HAND_ACCURACIES = [0.1, 0.12, 0.14];
export const HAND_MEAN = 0.12;
export const HAND_CI_HALF_WIDTH = (4.302652729749464 * 0.02) / Math.sqrt(3);


/**
 * Trials whose accuracy falls with BER like a real campaign: each trial is either barely hurt or collapses
 * (the bimodal shape of method.md section 6), with a collapse probability growing with BER / `tolerance`.
 */
function trials(seed: number, clean: number, tolerance: number, dueShare: number): TrialRecord[] {
  const next = random(seed);
  const out: TrialRecord[] = [];
  for (const ber of BERS) {
    for (let trial = 0; trial < TRIALS_PER_BER; trial++) {
      const collapse = next() < 1 - Math.exp(-ber / tolerance);
      const accuracy = collapse ? 0.1 + 0.15 * next() : clean - 0.02 * next();
      const lost = Math.max(0, (clean - accuracy) / clean);
      const due = collapse && next() < dueShare ? lost * 0.5 : 0;
      out.push({ ber, trial, accuracy, sdc: lost - due, due, faults: Math.round(ber * 8.6e6 + next() * 3), seconds: 0.5 });
    }
  }
  return out;
}

const base = { toolVersion: '0.1.0', data: 'cifar10-test:0-10000:deadbeef', seed: 1234 };
const options = (extra: JsonObject): JsonObject => ({ bers: BERS, trials: TRIALS_PER_BER, format: 'float32', count: 'bernoulli', policy: 'ieee', ...extra });

export const LAYERS = 19;

/** ProAct-like thresholds: layer-wise everywhere except the last layer (neuron-wise, stored as a summary). */
export function proactThresholds(): JsonObject {
  const layers: JsonObject[] = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    const profiledMax = 4 + 0.6 * layer + (layer % 3);
    const last = layer === LAYERS - 1;
    layers.push(
      last
        ? { layer, node: `/layer3/relu_${layer}`, kind: 'clip-zero', granularity: 'neuron', dims: [64, 8, 8], summary: { count: 4096, min: 0.5, max: 9.5, mean: 3.25, median: 3 }, profiledMax }
        : { layer, node: `/layer/relu_${layer}`, kind: 'clip-zero', granularity: 'layer', dims: [], values: [profiledMax * (0.55 + 0.02 * layer)], profiledMax },
    );
  }
  return { method: 'proact', profileImages: 1024, layers };
}

export const OVERHEAD: JsonObject = {
  model: 'resnet20',
  modelParameters: 269722,
  reference: 'hyrelu',
  schemes: [
    { scheme: 'layer', parameters: 19, bytes: 76 },
    { scheme: 'hyrelu', parameters: 4114, bytes: 16456, note: 'ProAct' },
    { scheme: 'channel', parameters: 688, bytes: 2752 },
    { scheme: 'neuron', parameters: 188416, bytes: 753664 },
  ],
};

export const HARDENING: JsonObject = {
  method: 'proact',
  seconds: 1834.5,
  imagesProcessed: 2_500_000,
  validationAccuracy: 0.8921,
  settings: { tolerance: 0.015, weightDecays: [0.4, 0.04, 0.004] },
  decisions: [
    { layer: 18, node: '/layer3/relu_18', setting: { weightDecay: 0.4 }, accuracy: 0.85, accepted: false, note: 'accuracy dropped 4.2 points' },
    { layer: 18, node: '/layer3/relu_18', setting: { weightDecay: 0.04 }, accuracy: 0.889, accepted: true },
    { layer: 17, node: '/layer/relu_17', setting: { weightDecay: 0.4 }, accuracy: 0.888, accepted: true },
  ],
};

export interface Fixture {
  db: string;
  /** Campaign ids by role. */
  ids: { baseline: number; proact: number; ranger: number; empty: number };
}

/** Writes the store into `dir` and returns its path and campaign ids. */
export function writeFixtureStore(dir: string, name = 'results.sqlite'): Fixture {
  const db = join(dir, name);
  const store = openStore(db);
  try {
    const create = (spec: Omit<CampaignSpec, 'toolVersion' | 'data' | 'seed'>) => store.findOrCreateCampaign({ ...base, ...spec }).id;
    // The hand-checked BER is part of the baseline's plan: a store holds only trials its campaign planned.
    const baseline = create({ modelPath: 'models/resnet20.onnx', modelHash: 'a1'.repeat(32), options: options({ bers: [...BERS, HAND_BER] }), cleanAccuracy: 0.8731 });
    store.insertTrials(baseline, trials(1, 0.8731, 2e-6, 0.4));
    store.insertTrials(
      baseline,
      HAND_ACCURACIES.map((accuracy, trial) => ({ ber: HAND_BER, trial, accuracy, sdc: 0.85 - accuracy, due: 0.01 * trial, faults: 2000 + trial, seconds: 0.5 })),
    );
    store.setStatus(baseline, 'complete');

    const proact = create({ modelPath: 'models/resnet20.proact.onnx', modelHash: 'b2'.repeat(32), options: options({ method: 'proact' }), cleanAccuracy: 0.8702 });
    store.insertTrials(proact, trials(2, 0.8702, 2e-5, 0));
    store.putArtifact(proact, 'thresholds', proactThresholds());
    store.putArtifact(proact, 'overhead', OVERHEAD);
    store.putArtifact(proact, 'hardening', HARDENING);
    store.setStatus(proact, 'complete');

    const ranger = create({ modelPath: 'models/resnet20.ranger.onnx', modelHash: 'c3'.repeat(32), options: options({ method: 'ranger' }), cleanAccuracy: 0.8731 });
    const rangerTrials = trials(3, 0.8731, 8e-6, 0.1).filter((t) => t.ber < BERS[BERS.length - 1]! || t.trial === 0);
    store.insertTrials(ranger, rangerTrials);
    store.setStatus(ranger, 'interrupted');

    const empty = create({ modelPath: 'models/resnet20.fitact.onnx', modelHash: 'd4'.repeat(32), options: options({ method: 'fitact' }) });
    return { db, ids: { baseline, proact, ranger, empty } };
  } finally {
    store.close();
  }
}
