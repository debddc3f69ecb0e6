/**
 * notebooks/01-non-dma-assignment.ipynb (seeds 000 and 001: Mostafa Saleh's RFC on assigning
 * devices that cannot DMA, Alex Williamson's answer), run with the Node runner: every cell runs,
 * and what its prose claims is in its outputs — vfio-amba's EINVAL for the PL031 behind no IOMMU
 * (a successful `drivers_probe` write, the -22 line, `bind` EINVAL), no-IOMMU mode's fake group
 * and U taint (tainted = 64), CAP_SYS_RAWIO and the missing MAP_DMA, UIO refusing the AMBA device
 * and counting the alarm by read() with no ioctl to give it an eventfd, proposal (a) untainted
 * with nothing pinned and its misclassified bus master writing another process's page, proposal
 * (b) with its reset — and the comparison table, whose cells come from those outputs and must
 * agree with packages/vfio-platform/README.md.
 */

import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { expectInOrder, loadNotebook } from "./notebook-under-test.js";

const { nb, expectEveryCellRan, source, stdout, displays } = loadNotebook("01-non-dma-assignment");
const README = new URL("../../vfio-platform/README.md", import.meta.url);

/** The comparison table's rows: header cell → the four option cells. */
function tableRows(html: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const m of html.matchAll(/<tr><th>([^<]+)<\/th>((?:<td>.*?<\/td>)+)<\/tr>/g)) {
    rows.set(
      m[1]!,
      [...m[2]!.matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1]!),
    );
  }
  return rows;
}

const DEP =
  "vfio-amba 9010000.pl031: DEPRECATION: vfio-amba is deprecated and will be removed in a future kernel release";

describe("01-non-dma-assignment.ipynb as committed", () => {
  test("walks seeds 000 and 001 and cites both authors", () => {
    const info = nb.metadata["vfio-lab"];
    expect(info?.seed).toBe("000");
    expect(info?.summary).toMatch(/000 and 001/);
    const intro = source("nb01-intro");
    expect(intro).toContain("Mostafa Saleh");
    expect(intro).toContain("Alex Williamson");
    expect(intro).toContain("[RFC] Simple device assignment with VFIO platform");
    expect(source("nb01-refusal-md")).toContain(
      "(through vfio_group_find_or_alloc()), if it’s not part of an IOMMU group",
    );
    expect(source("nb01-uio-md")).toContain("UIO lacks support of eventfd for irqs");
  });
});

describe("01-non-dma-assignment.ipynb run", () => {
  test("every code cell runs, none fails", () => expectEveryCellRan());

  test("the PL031: an AMBA PrimeCell with rtc-pl031 and no IOMMU group; untainted", () => {
    expectInOrder(stdout("nb01-setup"), [
      '9010000.pl031: compatible ["arm,pl031","arm,primecell"]',
      "  AMBA periphid 00141031, driver rtc-pl031, iommu_group (none)",
      "tainted = 0",
    ]);
  });

  test("today's refusal: drivers_probe succeeds, the probe fails -22, bind says EINVAL", () => {
    const out = stdout("nb01-refusal");
    expectInOrder(out, [
      "$ echo -n 'vfio-amba' > /sys/bus/amba/devices/9010000.pl031/driver_override    # write() = 9",
      "$ echo -n '9010000.pl031' > /sys/bus/amba/drivers_probe    # write() = 13",
      "driver after drivers_probe: (none)",
      "$ echo -n '9010000.pl031' > /sys/bus/amba/drivers/vfio-amba/bind    # write() = -1 EINVAL, from bind_store()",
      `  dmesg: ${DEP}`,
      "  dmesg: vfio-amba 9010000.pl031: probe with driver vfio-amba failed with error -22",
      "  dmesg: vfio-amba 9010000.pl031: probe with driver vfio-amba failed with error -22",
      'request_module(): "vfio-reset:arm,pl031", "vfio-reset:arm,pl031"',
      "/dev/vfio: vfio",
      "tainted = 0",
    ]);
    // The deprecation is dev_err_once: one line for two probes.
    expect(out.split(DEP)).toHaveLength(2);
    expect(stdout("nb01-giveback")).toContain("driver: rtc-pl031");
  });

  test("no-IOMMU mode: a fake vfio-noiommu group, both taint lines, tainted = 64 (U)", () => {
    expectInOrder(stdout("nb01-noiommu"), [
      "$ echo -n '1' > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode    # write() = 1",
      "driver: vfio-amba",
      "  dmesg: vfio-amba 9010000.pl031: Adding to iommu group 3",
      "  dmesg: vfio-amba 9010000.pl031: Adding kernel taint for vfio-noiommu group on device",
      "  dmesg: vfio-amba 9010000.pl031: Adding kernel taint for vfio-noiommu cdev",
      'iommu_group 3, named "vfio-noiommu"',
      "/dev/vfio: devices noiommu-3 vfio; /dev/vfio/devices: noiommu-vfio0",
      "/proc/sys/kernel/tainted = 64  (Tainted: [U]=USER)",
    ]);
  });

  test("no-IOMMU VMM: EPERM without CAP_SYS_RAWIO, ENOTTY for MAP_DMA, the alarm on an eventfd", () => {
    const out = stdout("nb01-noiommu-vmm");
    expectInOrder(out, [
      "open(/dev/vfio/noiommu-3) without CAP_SYS_RAWIO: EPERM (errno 1), refused by vfio_group_fops_open()",
      "container VFIO_IOMMU_MAP_DMA: ENOTTY (errno 25), refused by vfio_noiommu_ioctl()",
      "  dmesg: vfio-amba 9010000.pl031: VFIO: no reset function found!",
      "GET_INFO flags 0x8 (AMBA, no RESET)",
      "PL031 alarm: count 1 after 2.0 s (virtual); after RTCICR + UNMASK: quiet",
    ]);
    expect(out).toMatch(
      /dmesg: vfio-amba 9010000\.pl031: vfio-noiommu device opened by user \(vmm:\d+\)/,
    );
  });

  test("UIO: the AMBA device cannot be taken; as a platform device, read() counts the alarm", () => {
    expectInOrder(stdout("nb01-uio-amba"), [
      "$ echo -n '9010000.pl031' > /sys/bus/amba/drivers_probe    # write() = 13",
      "$ echo -n '9010000.pl031' > /sys/bus/platform/drivers/uio_pdrv_genirq/bind    # write() = -1 ENODEV, from bind_store()",
      "driver: (none); /dev/uio*: (none)",
      "  (dmesg: nothing)",
    ]);
    expectInOrder(stdout("nb01-uio-platform"), [
      "platform device 9010000.pl031: driver uio_pdrv_genirq, iommu_group (none)",
      "/dev/uio0: name pl031@9010000, map0 addr 0x9010000 size 0x1000",
      "tainted = 0",
      "read(/dev/uio0, 4) = event count 1 after 2.0 s of virtual time",
      "ioctl(/dev/uio0, VFIO_DEVICE_SET_IRQS): ENOTTY (errno 25), refused by vfs_ioctl()",
      "after RTCICR and write(1): quiet",
      "the VMM's open files: /dev/uio0",
    ]);
  });

  test("(a): the model-only line, a private group, no taint, nothing pinned, the alarm", () => {
    expectInOrder(stdout("nb01-rfc-a"), [
      "(a) 9010000.pl031: driver vfio-amba",
      "  dmesg: vfio-amba 9010000.pl031: VFIO: cannot DMA (platform_dma_capable), using an emulated IOMMU",
      "  dmesg: vfio-amba 9010000.pl031: Adding to iommu group 3",
      'iommu_group 3 ("vfio-noiommu"), /dev/vfio: 3 devices vfio',
      "tainted = 0",
      "/dev/vfio/3 through a type1 container, no capabilities: GET_INFO flags 0x8",
      "VFIO_IOMMU_MAP_DMA of 64 KiB guest RAM: ok; pinned pages: 0, pinned_vm: 0",
      "PL031 alarm: count 1 after 2.0 s (virtual); after RTCICR + UNMASK: quiet",
    ]);
  });

  test("(b): pl011-vfio-amba through a cdev, flags 0x9, its reset, RX on an eventfd", () => {
    expectInOrder(stdout("nb01-rfc-b"), [
      "(b) 9000000.pl011: driver pl011-vfio-amba",
      "  dmesg: pl011-vfio-amba 9000000.pl011: Adding to iommu group 4",
      "  dmesg: pl011-vfio-amba 9000000.pl011: VFIO: reset",
      "its cdev, bound to an iommufd and attached to an IOAS, no capabilities: GET_INFO flags 0x9 (AMBA | RESET)",
      "RX on the eventfd: count 1, byte 0x5a",
      "  dmesg: pl011-vfio-amba 9000000.pl011: VFIO: reset",
      "VFIO_DEVICE_RESET: UARTCR 0x0 afterwards",
      "tainted = 0",
    ]);
  });

  test("(a)'s false negative: an untainted engine fills another process's page", () => {
    const out = stdout("nb01-r1");
    expectInOrder(out, [
      "  dmesg: vfio-platform c031000.dma-test: VFIO: cannot DMA (platform_dma_capable), using an emulated IOMMU",
      "tainted = 0",
      "engine STATUS DONE: true",
      "victim's page now ef be ad de",
    ]);
    expect(out).toMatch(/victim's page: PFN 0x[0-9a-f]+, holds 11 22 33 44/);
  });

  test("pictures: the topology before and after (the taint badge), the refusals' sequences", () => {
    const before = displays("nb01-topology", "image/svg+xml");
    const after = displays("nb01-noiommu-topo", "image/svg+xml");
    expect(before).toHaveLength(1);
    expect(after).toHaveLength(1);
    expect(before[0]).not.toContain("TAINTED");
    expect(after[0]).toContain("TAINTED (U)");
    expect(after[0]).toContain("noiommu-3");
    const [refusal] = displays("nb01-refusal-seq", "image/svg+xml");
    expect(refusal).toContain("EINVAL");
    expect(refusal).toContain("bind_store");
    const [noiommu] = displays("nb01-noiommu-seq", "image/svg+xml");
    expect(noiommu).toContain("EPERM");
    expect(noiommu).toContain("ENOTTY");
  });

  test("the table: four options, each cell from the outputs above", () => {
    const [html] = displays("nb01-table", "text/html");
    const rows = tableRows(html ?? "");
    expect([...rows.keys()]).toEqual([
      "taint",
      "IOMMU group",
      "privilege the VMM needs",
      "takes the AMBA PrimeCell",
      "isolation",
      "IRQ path",
      "reset",
      "what a VMM must do",
      "upstream status (seeds 000/001)",
    ]);
    for (const cells of rows.values()) expect(cells).toHaveLength(4);
    const [noiommu, uio, a, b] = [0, 1, 2, 3].map((i) => (row: string) => rows.get(row)![i]!);
    expect(noiommu!("taint")).toBe("<b>Tainted: [U]=USER</b> (tainted = 64)");
    for (const col of [uio!, a!, b!]) expect(col("taint")).toBe("none (tainted = 0)");
    expect(noiommu!("IOMMU group")).toContain("/dev/vfio/noiommu-3");
    expect(a!("IOMMU group")).toContain("/dev/vfio/3");
    expect(b!("IOMMU group")).toContain("/dev/vfio/4");
    expect(noiommu!("privilege the VMM needs")).toBe("CAP_SYS_RAWIO (without it: EPERM)");
    expect(a!("privilege the VMM needs")).toBe("none (this VMM holds 0 capabilities)");
    expect(b!("privilege the VMM needs")).toBe("none (this VMM holds 0 capabilities)");
    expect(uio!("takes the AMBA PrimeCell")).toContain("nothing binds");
    expect(noiommu!("isolation")).toContain("ENOTTY");
    expect(a!("isolation")).toContain("0 pages pinned");
    expect(a!("isolation")).toContain("ef be ad de");
    expect(uio!("IRQ path")).toContain("read() returned count 1");
    expect(uio!("IRQ path")).toContain("ENOTTY");
    for (const col of [noiommu!, a!, b!]) expect(col("IRQ path")).toMatch(/^eventfd/);
    expect(b!("IRQ path")).toContain("byte 0x5a");
    expect(noiommu!("reset")).toContain("0x8");
    expect(b!("reset")).toContain("0x9");
  });

  test("the table agrees with the vfio-platform README's trade-offs", () => {
    const readme = readFileSync(README, "utf8");
    const readmeRow = (name: string): string[] => {
      const line = readme.split("\n").find((l) => l.startsWith(`| ${name} |`));
      if (!line) throw new Error(`README has no row ${name}`);
      return line
        .split("|")
        .slice(2, 6)
        .map((c) => c.trim());
    };
    const [html] = displays("nb01-table", "text/html");
    const rows = tableRows(html ?? "");
    const taint = readmeRow("taint / CAP_SYS_RAWIO");
    const irq = readmeRow("IRQ to a VMM");
    const amba = readmeRow("binds AMBA PrimeCells");
    const reset = readmeRow("reset");
    for (let i = 0; i < 4; i++) {
      // "`U` / required" ⇔ tainted; "none / none" ⇔ tainted = 0.
      expect(rows.get("taint")![i]!.startsWith("none"), taint[i]).toBe(
        taint[i]!.startsWith("none"),
      );
      expect(rows.get("IRQ path")![i]!.startsWith("eventfd"), irq[i]).toBe(
        irq[i]!.startsWith("eventfd"),
      );
      expect(rows.get("takes the AMBA PrimeCell")![i]!.startsWith("yes"), amba[i]).toBe(
        amba[i]!.startsWith("yes"),
      );
      expect(rows.get("reset")![i]!.startsWith("none"), reset[i]).toBe(
        reset[i]!.startsWith("none"),
      );
    }
  });
});
