/**
 * src/faults: the pure fault-injection core (number formats, bit flips, counter-based random streams,
 * fault count models, fault plans). No onnxruntime dependency: everything here is plain TypeScript on
 * typed arrays, fast to test and usable from workers. See docs/faults.md.
 */
export {
  BFLOAT16,
  FLOAT16,
  FLOAT32,
  INT8,
  INT8_CHANNEL,
  float32Bits,
  float32FromBits,
  parseFormat,
  quantize,
  toFormat,
  type EncodedTensor,
  type NumberFormat,
  type StoredWords,
} from './formats.js';
export { FLOAT_POLICIES, REFERENCE_INF_REPLACEMENT, REFERENCE_TINY_LIMIT, applyFloatPolicy, flippedValue, parseFloatPolicy, type FloatPolicy } from './policy.js';
export { PhiloxStream, activationStream, imageStream, philox4x32_10, trialImages, trialStream, type RandomSource } from './prng.js';
export { CRITICAL_FACTOR, STRATA, STRATUM_STRIDE, criticalSet, sampleStratumSites, strataCount, strataWeights, type CriticalSet } from './strata.js';
export {
  checkBer,
  countModelName,
  parseCountModel,
  sampleFlipSites,
  samplePoisson,
  type BitSpace,
  type CountModel,
  type FlipSite,
} from './counts.js';
export {
  DEFAULT_FAULT_MODEL,
  FAULT_MODEL_KEYS,
  describeFaultModel,
  faultModelFromJSON,
  faultModelToJSON,
  isActivationSelector,
  parseBatchNormMode,
  parseFaultSurface,
  parseSurfaceKinds,
  resolveFaultModel,
  type BatchNormMode,
  type FaultModel,
  type FaultModelInput,
  type FaultModelJSON,
} from './spec.js';
export {
  FaultPlanner,
  PLAN_VERSION,
  SURFACE_KINDS,
  applyPlan,
  isHittable,
  makePlan,
  planFromJSON,
  planToJSON,
  surfaceHash,
  type Fault,
  type FaultPlan,
  type PlanOptions,
  type PlannerOptions,
  type Sampling,
  type SurfaceKind,
  type SurfaceShape,
  type SurfaceTensor,
} from './plan.js';
export { BIT_FAULTS, applyBitFault, parseBitFault, type BitFault } from './stuckat.js';
export {
  ActivationPlanner,
  activationFaultsFromJSON,
  activationFaultsToJSON,
  activationSurfaceHash,
  applyActivationFaults,
  type ActivationFault,
  type ActivationLayerShape,
  type ActivationPlannerOptions,
} from './activation.js';
