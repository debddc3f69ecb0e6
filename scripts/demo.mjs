#!/usr/bin/env node
// A short terminal demo of the hardware layer on the default board: the PL330 copies memory
// through the SMMU (page tables written into simulated RAM), raises its completion interrupt at
// the GIC, and then faults on an unmapped IOVA without writing a byte. The trace is printed.
import {
  BareMetalSmmu,
  boards,
  pl330DebugGo,
  pl330DebugKill,
  pl330Memcpy,
  Soc,
} from "@vfio-lab/hw-soc";

const map = boards.virtLabMap;
const soc = Soc.fromDeviceTree(boards.virtLab());
const hex = (n) => `0x${n.toString(16)}`;

console.log("vfio-lab: the virtLab board (QEMU virt + SMMUv3 + our platform-bus additions)\n");
for (const d of soc.devices.filter((d) => !d.compatible.includes("virtio,mmio"))) {
  const irqs = soc.irqRoutes.filter((r) => r.device === d.name).map((r) => r.intid);
  const iommu = soc.iommuRoutes.find((r) => r.device === d.name);
  console.log(
    `  ${d.name.padEnd(18)} ${d.constructor.name.replace(/^_/, "").padEnd(20)} ${hex(d.windows[0].base).padEnd(12)}` +
      `${irqs.length ? `INTID ${irqs.slice(0, 3).join(",")}${irqs.length > 3 ? ",…" : ""}` : ""}` +
      `${iommu ? `  behind ${iommu.iommu}, StreamID ${hex(iommu.streamId)}` : ""}`,
  );
}
console.log(
  `  (+ ${soc.devices.filter((d) => d.compatible.includes("virtio,mmio")).length} empty virtio-mmio transports)\n`,
);

// Firmware-style SMMU setup: stream table, one stage-1 context for the PL330, page tables in RAM.
const smmu = new BareMetalSmmu(soc.bus, map.smmu.base, {
  pool: 0x4000_0000,
  poolSize: 0x40_0000,
}).reset();
const tables = smmu.translate(map.pl330.streamId, 1);
const [CODE, SRC, DST] = [0x4100_0000, 0x4200_0000, 0x4300_0000];
const [CODE_IOVA, SRC_IOVA, DST_IOVA] = [0x1000_0000, 0x2000_0000, 0x3000_0000];
const LENGTH = 0x2000;
tables.map(CODE_IOVA, CODE, 0x1000);
tables.map(SRC_IOVA, SRC, LENGTH);
tables.map(DST_IOVA, DST, LENGTH);
soc.bus.writeBytes(
  SRC,
  new TextEncoder().encode("Hello from the PL330, through the SMMU!".padEnd(LENGTH, ".")),
);

const debug = (inst) => {
  soc.bus.write(map.pl330.base + 0xd08, 4, inst.dbginst0);
  soc.bus.write(map.pl330.base + 0xd0c, 4, inst.dbginst1);
  soc.bus.write(map.pl330.base + 0xd04, 4, 0);
};
const run = (title, program) => {
  console.log(`── ${title}`);
  soc.bus.writeBytes(CODE, program);
  soc.bus.write(map.pl330.base + 0x20, 4, 1); // INTEN: event 0 raises irq0
  const rec = soc.trace.record();
  debug(pl330DebugGo({ channel: 0, pc: CODE_IOVA }));
  soc.runUntilIdle();
  rec.stop();
  let translations = 0;
  for (const r of rec.records) {
    if (r.type === "iommu-translate") {
      if (translations++ < 3)
        console.log(
          `  ${String(r.time).padStart(6)} ns  SMMU  sid ${hex(r.streamId)} IOVA ${hex(r.iova)} → PA ${hex(r.physical)} (${r.via})`,
        );
      continue;
    }
    const line =
      r.type === "dma"
        ? `DMA   ${r.master} ${r.write ? "write" : "read "} ${r.length} B at ${hex(r.address)} → PA ${hex(r.physical)}`
        : r.type === "dma-error"
          ? `DMA   ${r.master} ${r.write ? "write" : "read"} at ${hex(r.address)} ABORTED (${r.reason})`
          : r.type === "iommu-event"
            ? `SMMU  event ${r.event} sid ${hex(r.streamId)} IOVA ${hex(r.iova)}${r.recorded ? " (recorded in the event queue)" : ""}`
            : r.type === "irq-line"
              ? `IRQ   ${r.source}.${r.line} → INTID ${r.intid} ${r.level ? "high" : "low"}`
              : r.type === "iommu-command"
                ? `SMMU  command ${r.command}`
                : r.type === "device"
                  ? `DEV   ${r.device}: ${r.event}${r.detail ? ` ${JSON.stringify(r.detail)}` : ""}`
                  : `${r.type} ${JSON.stringify(r)}`;
    if (r.type === "dma" && r.length <= 8) continue; // microcode fetches
    console.log(`  ${String(r.time).padStart(6)} ns  ${line}`);
  }
  if (translations > 3)
    console.log(`         …  ${translations - 3} more translations (IOTLB hits)`);
};

run(
  "memcpy of 8 KiB: IOVA 0x20000000 → 0x30000000",
  pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: LENGTH }),
);
console.log(`  destination now reads: "${new TextDecoder().decode(soc.bus.readBytes(DST, 39))}"\n`);

soc.bus.write(map.pl330.base + 0x2c, 4, 1); // INTCLR
tables.unmap(DST_IOVA, 0x1000);
smmu.invalidatePage(1, DST_IOVA);
soc.bus.writeBytes(DST, new Uint8Array(0x1000));
run(
  "the same copy after the destination page is unmapped",
  pl330Memcpy({ src: SRC_IOVA, dst: DST_IOVA, length: 0x1000 }),
);
const csr = soc.bus.read(map.pl330.base + 0x100, 4) & 0xf;
const ftr = soc.bus.read(map.pl330.base + 0x40, 4);
const [event] = smmu.drainEvents();
console.log(`  channel 0 state ${hex(csr)} (Faulting), FTR0 ${hex(ftr)} (data_write_err)`);
console.log(
  `  SMMU event queue: ${event.name} StreamID ${hex(event.StreamID)} IOVA ${hex(event.InputAddr)}`,
);
console.log(
  `  destination bytes written: ${soc.bus.readBytes(DST, 0x1000).some((b) => b !== 0) ? "some (bug!)" : "none"}`,
);
debug(pl330DebugKill(0));
soc.runUntilIdle();
console.log(
  `  after DMAKILL: channel state ${hex(soc.bus.read(map.pl330.base + 0x100, 4) & 0xf)} (Stopped)`,
);
console.log(`\nvirtual time elapsed: ${soc.now} ns`);
