/**
 * The one place a test may skip because the machine lacks something. Every skip names what is missing
 * (a tag the suite's summary groups by, then the reason and the fix), and a requirement that CI promised
 * to provide turns the skip into a failure: `.ci/run` sets PROACT_REQUIRE=shared,redis,chromium,fonts, so
 * a mislocated ../shared or an uninstalled package cannot leave a green suite that tested nothing.
 */
import type { TestContext } from 'node:test';

/** What a test can lack: ../shared, a Redis server, Chromium, system fonts, or a non-root user. */
export const REQUIREMENTS = ['shared', 'redis', 'chromium', 'fonts', 'non-root'] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

function parseRequired(value: string | undefined): Set<Requirement> {
  const names = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const name of names) {
    if (!(REQUIREMENTS as readonly string[]).includes(name)) {
      throw new Error(`PROACT_REQUIRE names "${name}": use a comma-separated list of ${REQUIREMENTS.join(', ')}`);
    }
  }
  return new Set(names as Requirement[]);
}

const REQUIRED = parseRequired(process.env.PROACT_REQUIRE);

/** True when this run must have `need` (PROACT_REQUIRE lists it). */
export function isRequired(need: Requirement): boolean {
  return REQUIRED.has(need);
}

/**
 * Skips `t` because `need` is missing, with `reason` naming what is missing and how to get it; throws
 * instead (failing the test) when PROACT_REQUIRE says this run must have it. The skip message starts
 * with `[need]` so scripts/test.mjs can list skips by cause.
 */
export function skipMissing(t: TestContext, need: Requirement, reason: string): void {
  if (REQUIRED.has(need)) throw new Error(`PROACT_REQUIRE includes ${need}, but ${reason}`);
  t.skip(`[${need}] ${reason}`);
}
