/**
 * The platform-driver side of arm-smmu-v3 (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c:
 * arm_smmu_driver): matched by "arm,smmu-v3", no bind/unbind files, and a probe that hands the
 * MMIO resource and the interrupts by name (platform_get_irq_byname_optional) to the driver.
 */

import { PlatformDriver } from "../../base/platform.js";
import { IORESOURCE_MEM } from "../../base/resource.js";
import type { IrqCore } from "../../irq/irq-core.js";
import type { ArmSmmuDevice, ArmSmmuV3Driver } from "./arm-smmu-v3.js";

export function armSmmuV3PlatformDriver(smmu: ArmSmmuV3Driver, irq: IrqCore): PlatformDriver {
  return new PlatformDriver({
    name: "arm-smmu-v3",
    ofMatchTable: [{ compatible: "arm,smmu-v3" }],
    suppressBindAttrs: true,
    probe(pdev) {
      const res = pdev.getResource(IORESOURCE_MEM, 0);
      const node = pdev.dtNode;
      const byName = (name: string) => (node ? irq.ofIrqGetByname(node, name) : 0);
      pdev.driverData = smmu.probe({
        dev: pdev,
        ...(res ? { res: { start: res.start, size: res.end - res.start + 1 } } : {}),
        irqs: {
          combined: byName("combined"),
          eventq: byName("eventq"),
          priq: byName("priq"),
          gerror: byName("gerror"),
        },
      });
    },
    remove(pdev) {
      smmu.remove(pdev.driverData as ArmSmmuDevice);
    },
  });
}
