/**
 * drivers/iommu/of_iommu.c: of_iommu_configure() — reads a device's `iommus` entries
 * (`<&iommu cells…>`, as many cells as the IOMMU node's `#iommu-cells`), builds its fwspec
 * (the IOMMU's node plus, for an SMMU, its StreamIDs through the driver's of_xlate()) and, off
 * the iommu_probe_device() path, probes the device into its group.
 *
 * Results, as the kernel has them: a device with no `iommus`, or whose IOMMU node is disabled,
 * is ENODEV ("not behind an IOMMU"); an IOMMU whose driver has not registered yet is
 * EPROBE_DEFER (driver_deferred_probe_check_state()); a driver refusing the device
 * (probe_device()) is its errno. Every failure but EPROBE_DEFER leaves the device without IOMMU.
 *
 * Caveat: PCI (`iommu-map`, DMA aliases, ATS) is not modelled.
 */

import { type DtNode, isAvailable, phandleMap, propU32, propU32s } from "@vfio-lab/hw-soc";
import { SysError } from "../errno.js";
import type { IommuCore } from "./iommu.js";
import type { IommuClient } from "./iommu-defs.js";

/** of/base.c: of_parse_phandle_with_args() for one index; null at the end or on a bad entry. */
function ofParsePhandleWithArgs(
  core: IommuCore,
  np: DtNode,
  list: string,
  cellsName: string,
  index: number,
): { np: DtNode; args: number[] } | null {
  const spec = propU32s(np, list);
  if (!spec) return null;
  const phandles = phandleMap(core.tree);
  let pos = 0;
  for (let i = 0; pos < spec.length; i++) {
    const node = phandles.get(spec[pos]!);
    if (!node) return null;
    const count = propU32(node, cellsName);
    if (count === undefined || pos + 1 + count > spec.length) return null;
    if (i === index) return { np: node, args: spec.slice(pos + 1, pos + 1 + count) };
    pos += 1 + count;
  }
  return null;
}

/** of_iommu.c: of_iommu_xlate() */
function ofIommuXlate(core: IommuCore, dev: IommuClient, np: DtNode, args: number[]): void {
  if (!isAvailable(np)) {
    throw new SysError("ENODEV", "of_iommu_xlate", `${np.name} is disabled`);
  }
  core.iommuFwspecInit(dev, np);
  const ops = core.iommuOpsFromFwnode(np);
  if (!ops?.ofXlate) throw new SysError("ENODEV", "of_iommu_xlate", "driver has no of_xlate");
  ops.ofXlate(dev, args);
}

/** of_iommu.c: of_iommu_configure_dev() — every `iommus` entry, stopping at the first error. */
function ofIommuConfigureDev(core: IommuCore, masterNp: DtNode, dev: IommuClient): void {
  let err: SysError | null = new SysError("ENODEV", "of_iommu_configure", "no iommus");
  for (let idx = 0; ; idx++) {
    const spec = ofParsePhandleWithArgs(core, masterNp, "iommus", "#iommu-cells", idx);
    if (!spec) break;
    try {
      ofIommuXlate(core, dev, spec.np, spec.args);
      err = null;
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      err = e;
      break;
    }
  }
  if (err) throw err;
}

/** of_iommu.c: of_iommu_configure() — see the file comment. */
export function ofIommuConfigure(core: IommuCore, dev: IommuClient, masterNp: DtNode | null): void {
  if (!masterNp) throw new SysError("ENODEV", "of_iommu_configure", "no OF node");
  if (core.devIommuFwspecGet(dev)) return;
  const devIommuPresent = core.devIommuGetExisting(dev) !== undefined;
  let err: SysError | null = null;
  try {
    ofIommuConfigureDev(core, masterNp, dev);
  } catch (e) {
    if (!SysError.isInstance(e)) throw e;
    err = e;
  }
  if (err && devIommuPresent) core.iommuFwspecFree(dev);
  else if (err && core.devIommuGetExisting(dev)) core.devIommuFree(dev);
  // Off the iommu_probe_device() path (no dev->iommu before), simulate it.
  if (!err && !devIommuPresent) {
    try {
      core.iommuProbeDevice(dev);
    } catch (e) {
      if (!SysError.isInstance(e)) throw e;
      err = e;
    }
  }
  if (err && err.code !== "EPROBE_DEFER") {
    core.devLog(dev).dbg(`Adding to IOMMU failed: -${err.errno}`);
  }
  if (err) throw err;
}
