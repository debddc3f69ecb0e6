/**
 * notebooks/04-dma-ownership.ipynb (seed 004: the DMA-ownership series, Jason Gunthorpe's answer
 * to Greg Kroah-Hartman), run with the Node runner: every cell runs, and what its prose claims is
 * in its outputs — owner_cnt 2 → 1 when engine A leaves its DMA-API driver for vfio-platform (no
 * claim by a driver_managed_dma driver), the group not viable with EPERM from
 * iommu_group_claim_dma_owner() and iommu_device_claim_dma_owner(), the blocking then unmanaged
 * domain when user space claims it, EBUSY without a log line when a kernel driver tries to bind
 * into it, the release back to the default domain; and the XGMAC: ENOENT without its reset
 * module, the module autoloaded by alias and pinned (EAGAIN), `VFIO: reset` with the one-time
 * DEPRECATION, VFIO_DEVICE_RESET clearing the registers, and the give-back to calxedaxgmac.
 */

import { describe, expect, test } from "vitest";
import { expectInOrder, loadNotebook } from "./notebook-under-test.js";

const { nb, expectEveryCellRan, source, stdout, displays } = loadNotebook("04-dma-ownership");

const KERNEL_2 = "group 0: owner_cnt 2, owner kernel DMA API, domain default (DMA API)";
const KERNEL_1 = "group 0: owner_cnt 1, owner kernel DMA API, domain default (DMA API)";
const UNUSED = "group 0: owner_cnt 0, owner nobody, domain default (DMA API)";
const USER = "group 0: owner_cnt 1, owner user space, domain unmanaged";
const MAC = "vfio-platform c010000.ethernet: ";

describe("04-dma-ownership.ipynb as committed", () => {
  test("walks seed 004 and quotes its thread", () => {
    expect(nb.metadata["vfio-lab"]?.seed).toBe("004");
    const intro = source("nb04-intro");
    for (const who of ["Lu Baolu", "Jason Gunthorpe", "Greg Kroah-Hartman"]) {
      expect(intro).toContain(who);
    }
    expect(intro).toContain("Why would any vfio driver be a platform driver?");
    expect(intro).toContain("calxeda,hb-xgmac");
    expect(intro).toContain("never a\nmixture");
  });
});

describe("04-dma-ownership.ipynb run", () => {
  test("every code cell runs, none fails", () => expectEveryCellRan());

  test("the shared group: both engines in group 0 with their DMA-API driver, owner_cnt 2", () => {
    expectInOrder(stdout("nb04-setup"), [
      "/sys/kernel/iommu_groups/0/devices: c030000.dma-test c031000.dma-test",
      "c030000.dma-test: driver vfio-lab-dma-test, iommu_group 0",
      "c031000.dma-test: driver vfio-lab-dma-test, iommu_group 0",
      KERNEL_2,
    ]);
    const [svg] = displays("nb04-shared-svg", "image/svg+xml");
    expect(svg).toContain("DMA ownership — kernel DMA, owner_cnt 2");
  });

  test("driver_override: unbind drops owner_cnt to 1, vfio-platform binds without claiming", () => {
    expectInOrder(stdout("nb04-switch"), [
      'driver_override: "(null)\\n"',
      "$ echo -n 'vfio-platform' > /sys/bus/platform/devices/c030000.dma-test/driver_override    # write() = 13",
      "$ echo -n 'c030000.dma-test' > /sys/bus/platform/drivers_probe    # write() = 16",
      "  trace iommu:owner   unuse, owner_cnt → 1",
      "  trace driver:unbind c030000.dma-test vfio-lab-dma-test",
      "  trace driver:bind   c030000.dma-test vfio-platform",
      'driver_override: "vfio-platform\\n"',
      "c031000.dma-test: driver vfio-lab-dma-test",
      "/dev/vfio: 0 devices vfio",
      KERNEL_1,
    ]);
    // vfio-platform is driver_managed_dma: its bind is no `use`.
    expect(stdout("nb04-switch")).not.toContain("trace iommu:owner   use");
  });

  test("not viable: GET_STATUS 0, EPERM from both claims, as on the 7.3 oracle", () => {
    expectInOrder(stdout("nb04-notviable"), [
      "VFIO_GROUP_GET_STATUS: flags 0x0",
      "VFIO_GROUP_SET_CONTAINER(type1 container): EPERM (errno 1), refused by iommu_group_claim_dma_owner()",
      "VFIO_GROUP_SET_CONTAINER(iommufd): ok",
      "VFIO_GROUP_GET_STATUS: flags 0x3",
      'VFIO_GROUP_GET_DEVICE_FD("c030000.dma-test"): EPERM (errno 1), refused by iommu_device_claim_dma_owner()',
      "VFIO_DEVICE_BIND_IOMMUFD(/dev/vfio/devices/vfio0): EPERM (errno 1), refused by iommu_device_claim_dma_owner()",
      KERNEL_1,
    ]);
    // The only lines: iommufd's MSI warning before each per-device claim.
    const dmesg = stdout("nb04-notviable")
      .split("\n")
      .filter((l) => l.startsWith("  dmesg: "));
    expect(dmesg).toHaveLength(2);
    for (const l of dmesg) expect(l).toContain("MSI interrupts are not secure");
    const [seq] = displays("nb04-notviable-seq", "image/svg+xml");
    expect(seq).toContain("iommu_group_claim_dma_owner");
    expect(seq).toContain("iommu_device_claim_dma_owner");
  });

  test("B unbound: unused, viable; the claim moves both devices to blocked, then type1's domain", () => {
    expectInOrder(stdout("nb04-unbind"), [UNUSED]);
    expect(displays("nb04-unbind", "image/svg+xml")[0]).toContain(
      "DMA ownership — unused, owner_cnt 0",
    );
    expectInOrder(stdout("nb04-claim"), [
      "VFIO_GROUP_GET_STATUS: flags 0x1 (VIABLE)",
      "  trace iommu:attach  c030000.dma-test → blocked domain",
      "  trace iommu:attach  c031000.dma-test → blocked domain",
      "  trace iommu:owner   claim, owner_cnt → 1 (user-owned)",
      "  trace iommu:attach  c030000.dma-test → unmanaged domain",
      "  trace iommu:attach  c031000.dma-test → unmanaged domain",
      "VFIO_GROUP_GET_STATUS: flags 0x3 (VIABLE | CONTAINER_SET)",
      "device fd for c030000.dma-test: GET_INFO flags 0x4 (PLATFORM)",
      USER,
    ]);
  });

  test("a kernel driver into the user-owned group: EBUSY, nothing logged, nothing changed", () => {
    expectInOrder(stdout("nb04-ebusy"), [
      "$ echo -n 'c031000.dma-test' > /sys/bus/platform/drivers/vfio-lab-dma-test/bind    # write() = -1 EBUSY, from bind_store()",
      "  (dmesg: nothing)",
      "  trace driver:probe-failed c031000.dma-test vfio-lab-dma-test -16",
      "c031000.dma-test: driver (none)",
      USER,
    ]);
    const [seq] = displays("nb04-ebusy-seq", "image/svg+xml");
    expect(seq).toContain("EBUSY");
    // The user-owned state, with the rule that refused the bind drawn in bold.
    const [owner] = displays("nb04-ebusy-svg", "image/svg+xml");
    expect(owner).toContain("DMA ownership — user (VFIO), owner_cnt 1");
    expect(owner).toMatch(/<text class="b"[^>]*>DMA-API driver bind while user owned → EBUSY/);
  });

  test("closed: blocked, then the default domain; B's driver binds again", () => {
    expectInOrder(stdout("nb04-release"), [
      "  trace iommu:attach  c030000.dma-test → DMA domain",
      "  trace iommu:owner   release, owner_cnt → 0",
      UNUSED,
      "$ echo -n 'c031000.dma-test' > /sys/bus/platform/drivers/vfio-lab-dma-test/bind    # write() = 16",
      "  dmesg: vfio-lab-dma-test c031000.dma-test: DMA test engine 1.0",
      KERNEL_1,
    ]);
  });

  test("XGMAC without its reset module: ENOENT, `No reset function found`, the write succeeds", () => {
    expectInOrder(stdout("nb04-xgmac-noreset"), [
      "c010000.ethernet: driver calxedaxgmac, iommu_group 0",
      KERNEL_1,
      "$ echo -n 'c010000.ethernet' > /sys/bus/platform/drivers_probe    # write() = 16",
      `  dmesg: ${MAC}VFIO: No reset function found for device c010000.ethernet`,
      `  dmesg: ${MAC}probe with driver vfio-platform failed with error -2`,
      "  trace module        request vfio-reset:calxeda,hb-xgmac",
      "c010000.ethernet: driver (none); /dev/vfio: vfio",
      UNUSED,
    ]);
  });

  test("installed: request_module loads it by alias, vfio-platform pins it (EAGAIN)", () => {
    expectInOrder(stdout("nb04-xgmac-install"), [
      "  (dmesg: nothing)",
      "  trace module        request vfio-reset:calxeda,hb-xgmac",
      "  trace module        load vfio_platform_calxedaxgmac",
      "  trace driver:bind   c010000.ethernet vfio-platform",
      "c010000.ethernet: driver vfio-platform; /dev/vfio: 0 devices vfio",
      "/sys/module/vfio_platform_calxedaxgmac/refcnt = 1",
      "rmmod vfio_platform_calxedaxgmac: EAGAIN (errno 11), refused by try_stop_module()",
      UNUSED,
    ]);
  });

  test("open resets (then the one-time DEPRECATION); VFIO_DEVICE_RESET clears the MAC", () => {
    expectInOrder(stdout("nb04-xgmac-open"), [
      `  dmesg: ${MAC}VFIO: reset`,
      `  dmesg: ${MAC}DEPRECATION: VFIO Calxeda xgmac platform reset is deprecated and will be removed in a future kernel release`,
      "GET_INFO: flags 0x5 (PLATFORM true, RESET true), 1 region, 3 IRQs",
      USER,
      "set by the VMM:         CONTROL 0xc, DMA_CONTROL 0x2002, DMA_INTR_ENA 0x1ffff",
      "after VFIO_DEVICE_RESET: CONTROL 0x0, DMA_CONTROL 0x0, DMA_INTR_ENA 0x0",
      `  dmesg: ${MAC}VFIO: reset`,
    ]);
    const [xgmac] = displays("nb04-xgmac-svg", "image/svg+xml");
    expect(xgmac).toContain("DMA ownership — user (VFIO), owner_cnt 1");
    expect(xgmac).toContain("c010000.ethernet");
  });

  test("given back: reset at close, calxedaxgmac claims group 0, /dev/vfio/0 gone, refcnt 0", () => {
    const out = stdout("nb04-giveback");
    expectInOrder(out, [
      `  dmesg: ${MAC}VFIO: reset`,
      "$ echo -n '' > /sys/bus/platform/devices/c010000.ethernet/driver_override    # write() = 1",
      "  trace driver:unbind c010000.ethernet vfio-platform",
      "  trace iommu:owner   use, owner_cnt → 1",
      "  trace driver:bind   c010000.ethernet calxedaxgmac",
      "c010000.ethernet: driver calxedaxgmac",
      KERNEL_1,
      "open(/dev/vfio/0): ENOENT (errno 2), refused by step_into()",
      "/sys/module/vfio_platform_calxedaxgmac/refcnt = 0",
    ]);
    // The DEPRECATION is dev_err_once: not again at this close.
    expect(out).not.toContain("DEPRECATION");
  });
});
