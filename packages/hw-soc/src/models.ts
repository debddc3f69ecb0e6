/**
 * Every device model this package implements, in the order `Soc.fromDeviceTree()` consults them.
 * A node binds to the first model that implements any of its `compatible` strings, trying the
 * node's strings most specific first (as Linux's OF matching does).
 */

import type { DeviceModel } from "./core/device-model.js";
import { dmaTestModel } from "./devices/dma-test.js";
import { fwCfgModel } from "./devices/fw-cfg.js";
import { gicV3Model } from "./devices/gic-v3.js";
import { pl011Model } from "./devices/pl011.js";
import { pl031Model } from "./devices/pl031.js";
import { pl061Model } from "./devices/pl061.js";
import { pl330Model } from "./devices/pl330.js";
import { smmuV3Model } from "./devices/smmu-v3.js";
import { sp804Model } from "./devices/sp804.js";
import { virtioMmioModel } from "./devices/virtio-mmio.js";
import { xgmacModel } from "./devices/xgmac.js";

export const defaultDeviceModels: readonly DeviceModel[] = [
  gicV3Model,
  smmuV3Model,
  pl011Model,
  pl031Model,
  pl061Model,
  pl330Model,
  sp804Model,
  xgmacModel,
  dmaTestModel,
  virtioMmioModel,
  fwCfgModel,
];
