/**
 * A fault-injection sweep in the manner of tools/testing/selftests/iommu/iommufd_fail_nth.c.
 *
 * The kernel test writes N to /proc/self/task/<tid>/fail-nth so that the N-th fault-injection
 * site the task reaches (every slab and page allocation, and each `iommufd_should_fail()`) fails,
 * runs the scenario, and repeats for N = 1, 2, … until a run no longer reaches the N-th site.
 * The model's equivalent of fail-nth is the kernel's single fault-injection point,
 * `PageAllocator.shouldFail(site)`, which every fallible site of the model asks.
 *
 * Each run gets a freshly built world. What is checked, per run:
 * - the scenario either completes or fails with a Linux errno (`SysError`) — never with a
 *   JavaScript error, a broken invariant or a half-done state that makes teardown throw;
 * - after teardown (every process exits, so every file is released) nothing is left behind:
 *   no iommufd context, no FOLL_PIN pin, no locked_vm charge on the processes' users, every
 *   IOMMU group of the board back in its default domain with no user-space DMA owner;
 * - the last run, which no injection reached, succeeded.
 */

import type { Kernel, Process } from "@vfio-lab/kernel";
import { SysError } from "@vfio-lab/kernel";
import { iommufdOf } from "../main.js";

/** What a scenario builds before injection is armed. */
export interface FailNthWorld {
  readonly kernel: Kernel;
  /** The processes whose exit releases everything the scenario opened. */
  readonly processes: readonly Process[];
}

export interface FailNthScenario<W extends FailNthWorld> {
  /** Builds a fresh world (boot, modprobe, spawn): runs without injection. */
  setup(): W;
  /** The body, run with the N-th fault-injection site failing. */
  run(world: W): void;
  /** Extra teardown before the processes exit (optional). */
  teardown?(world: W): void;
}

/** One run of the sweep. */
export interface FailNthRun {
  /** Which site failed (0: the run without injection). */
  readonly n: number;
  /** The name of the site that was failed, if the run reached it. */
  readonly site: string | null;
  /** The errno the scenario ended with, or null when it completed. */
  readonly errno: string | null;
}

export interface FailNthReport {
  readonly runs: readonly FailNthRun[];
  /** Distinct site names that were failed at least once. */
  readonly sites: readonly string[];
}

export class FailNthError extends Error {
  override readonly name = "FailNthError";
}

/**
 * Runs `scenario` once untouched and then with the n-th fault-injection site failing, for
 * n = 1, 2, … until a run completes without reaching its n-th site (at most `maxRuns`).
 */
export function sweepFailNth<W extends FailNthWorld>(
  scenario: FailNthScenario<W>,
  opts: { readonly maxRuns?: number } = {},
): FailNthReport {
  const maxRuns = opts.maxRuns ?? 400;
  const runs: FailNthRun[] = [];
  const sites = new Set<string>();
  for (let n = 0; n <= maxRuns; n++) {
    const world = scenario.setup();
    const allocator = world.kernel.allocator;
    const pinsBefore = allocator.totalPins;
    let calls = 0;
    let failedSite: string | null = null;
    if (n > 0) {
      allocator.setFailHook((site) => {
        calls++;
        if (calls !== n) return false;
        failedSite = site;
        return true;
      });
    }
    let errno: string | null = null;
    try {
      scenario.run(world);
    } catch (e) {
      if (!SysError.isInstance(e)) {
        allocator.setFailHook(undefined);
        const where = failedSite ? ` after failing site #${n} (${failedSite})` : "";
        throw new FailNthError(`run ${n}${where} ended with a non-errno error: ${String(e)}`, {
          cause: e,
        });
      }
      errno = e.code;
    } finally {
      allocator.setFailHook(undefined);
    }
    try {
      scenario.teardown?.(world);
      for (const p of world.processes) p.exit();
    } catch (e) {
      throw new FailNthError(`run ${n} (${failedSite ?? "no injection"}): teardown threw: ${e}`, {
        cause: e,
      });
    }
    checkNothingLeft(world, n, failedSite, pinsBefore);
    runs.push({ n, site: failedSite, errno });
    if (failedSite) sites.add(failedSite);
    if (n === 0 && errno !== null) {
      throw new FailNthError(`the scenario fails without injection: ${errno}`);
    }
    if (n > 0 && failedSite === null) {
      if (errno !== null) {
        throw new FailNthError(`run ${n} reached no injected site yet failed with ${errno}`);
      }
      return { runs, sites: [...sites].sort() };
    }
  }
  throw new FailNthError(`more than ${maxRuns} fault-injection sites: raise maxRuns`);
}

function checkNothingLeft(
  world: FailNthWorld,
  n: number,
  site: string | null,
  pinsBefore: number,
): void {
  const k = world.kernel;
  const what = `run ${n} (${site ?? "no injection"})`;
  let contexts = 0;
  try {
    contexts = iommufdOf(k).contexts.size;
  } catch {
    // iommufd not loaded in this world: nothing of it can leak.
  }
  if (contexts !== 0) throw new FailNthError(`${what}: ${contexts} iommufd context(s) left open`);
  if (k.allocator.totalPins !== pinsBefore) {
    throw new FailNthError(
      `${what}: ${k.allocator.totalPins - pinsBefore} page pin(s) left after teardown`,
    );
  }
  for (const p of world.processes) {
    const user = k.users.findUser(p.uid);
    if (user && user.lockedVm !== 0) {
      throw new FailNthError(`${what}: uid ${p.uid} still has ${user.lockedVm} locked pages`);
    }
  }
  const groups = new Set(
    ["platform", "amba"]
      .flatMap((bus) => k.drivers.devices(bus))
      .map((dev) => k.iommu.deviceGroup(dev))
      .filter((g) => g !== null),
  );
  for (const group of groups) {
    if (group.owner !== null) {
      throw new FailNthError(`${what}: IOMMU group ${group.id} still has a DMA owner`);
    }
    if (group.domain !== group.defaultDomain) {
      throw new FailNthError(`${what}: IOMMU group ${group.id} is not in its default domain`);
    }
  }
}
