/**
 * Devices from the device tree (drivers/of/platform.c, drivers/of/device.c): every child of
 * the root with a `compatible` becomes a device — an AMBA device when it is an
 * `arm,primecell`, else a platform device — and the children of a node that matches the bus
 * table (`simple-bus`, `simple-mfd`, `isa`, `arm,amba-bus`) are populated under it.
 *
 * Names come from of_device_make_bus_id(): `<translated address in hex>.<node name>` for a
 * node with a translatable `reg` (`9030000.pl061`, `c000000.dma`), else the node's full name
 * (`platform-bus@c000000`, `gpio-keys`), joined with `:` to the names of the reg-less nodes
 * below it. A device's parent is the device of its bus node, else the platform bus root, so
 * the children of `platform-bus@c000000` live in
 * /sys/devices/platform/platform-bus@c000000/. Nodes that are disabled, have no
 * `compatible`, or are already OF_POPULATED (the GIC by of_irq_init(), the fixed clock by
 * of_clk_init()) get no device.
 *
 * Caveat: no auxdata, no of_msi_configure(), no dynamic (overlay) population.
 */

import { readLocalReg } from "@vfio-lab/hw-soc";
import type { Printk } from "../printk/printk.js";
import { AmbaDevice } from "./amba.js";
import type { Bus } from "./bus.js";
import { negativeErrno } from "./dd.js";
import type { Device, DeviceContext } from "./device.js";
import {
  OF_POPULATED,
  OF_POPULATED_BUS,
  type OfDeviceId,
  type OfNode,
  type OfTree,
  ofMatchNode,
} from "./of-node.js";
import { PLATFORM_DEVID_NONE, PlatformDevice } from "./platform.js";
import { IORESOURCE_MEM, Resource } from "./resource.js";

/** DMA_BIT_MASK(32): the masks of_platform_device_create_pdata() and AMBA devices start with. */
const DMA_BIT_MASK_32 = 0xffff_ffffn;

/** drivers/of/platform.c: of_platform_default_populate()'s bus table (CONFIG_ARM_AMBA). */
export const OF_DEFAULT_BUS_MATCH_TABLE: readonly OfDeviceId[] = [
  { compatible: "simple-bus" },
  { compatible: "simple-mfd" },
  { compatible: "isa" },
  { compatible: "arm,amba-bus" },
];

/** drivers/of/platform.c: of_skipped_node_table. */
const OF_SKIPPED_NODE_TABLE: readonly OfDeviceId[] = [{ compatible: "operating-points-v2" }];

/** drivers/of/platform.c: reserved_mem_matches. */
const RESERVED_MEM_MATCHES: readonly OfDeviceId[] = [
  { compatible: "phram" },
  { compatible: "qcom,rmtfs-mem" },
  { compatible: "qcom,cmd-db" },
  { compatible: "qcom,smem" },
  { compatible: "ramoops" },
  { compatible: "nvmem-rmem" },
  { compatible: "google,open-dice" },
];

/**
 * Nodes claimed before population by early OF_DECLARE initialisation, which sets OF_POPULATED
 * so no platform device is made for them: IRQCHIP_DECLARE via of_irq_init() (drivers/of/irq.c)
 * and CLK_OF_DECLARE via of_clk_init() (drivers/clk/clk.c).
 */
export const OF_EARLY_DECLARED: readonly { readonly compatible: string; readonly by: string }[] = [
  { compatible: "arm,gic-v3", by: "of_irq_init" },
  { compatible: "fixed-clock", by: "of_clk_init" },
];

/** What population needs from the driver core. */
export interface OfPlatformHost {
  readonly of: OfTree;
  readonly deviceContext: DeviceContext;
  readonly printk: Printk;
  readonly platformBus: Bus;
  readonly ambaBus: Bus;
  /** `platform_bus`: the parent of top-level devices (/sys/devices/platform). */
  readonly platformRoot: Device;
  /** drivers/base/core.c: device_add(). */
  deviceAdd(dev: Device): void;
  /** drivers/amba/bus.c: amba_device_add(). */
  ambaDeviceAdd(adev: AmbaDevice): void;
}

function ffs(mask: number): number {
  for (let i = 0; i < 32; i++) if ((mask >>> i) & 1) return i + 1;
  return 0;
}

/** The first `reg` address of `np` translated to a CPU address, or undefined (OF_BAD_ADDR). */
function firstTranslatedAddress(np: OfNode): number | undefined {
  if (!np.hasProperty("reg")) return undefined;
  return np.translatedReg()?.[0]?.address;
}

/** drivers/of/device.c: of_device_make_bus_id(). */
export function ofDeviceMakeBusId(np: OfNode): string {
  let name: string | null = null;
  for (let node: OfNode = np; node.parent; node = node.parent) {
    const addr = firstTranslatedAddress(node);
    if (addr !== undefined) {
      const mask = node.readU32("mask");
      const head =
        mask !== undefined
          ? `${addr.toString(16)}.${ffs(mask) - 1}.${node.name}`
          : `${addr.toString(16)}.${node.name}`;
      return name !== null ? `${head}:${name}` : head;
    }
    name = name !== null ? `${node.fullName}:${name}` : node.fullName;
  }
  return name ?? "";
}

/** drivers/of/address.c: of_address_count() — `reg` entries, translatable or not. */
function ofAddressCount(np: OfNode): number {
  if (!np.parent || !np.hasProperty("reg")) return 0;
  try {
    return readLocalReg(np.dt, np.parent.dt).length;
  } catch {
    return 0;
  }
}

/**
 * drivers/of/address.c: of_address_to_resource() — MEM resources named by `reg-names` or the
 * node's full name; an untranslatable entry stays an empty resource (WARN_ON in Linux).
 */
function ofAddressResources(np: OfNode): Resource[] {
  const count = ofAddressCount(np);
  const reg = np.translatedReg();
  const names = np.strings("reg-names");
  const out: Resource[] = [];
  for (let i = 0; i < count; i++) {
    const entry = reg?.[i];
    out.push(
      entry
        ? new Resource(
            entry.address,
            entry.address + entry.size - 1,
            IORESOURCE_MEM,
            names[i] ?? np.fullName,
          )
        : new Resource(0, 0, 0, null),
    );
  }
  return out;
}

/** drivers/of/platform.c: of_device_alloc(). */
export function ofDeviceAlloc(
  host: OfPlatformHost,
  np: OfNode,
  busId: string | null,
  parent: Device | null,
): PlatformDevice {
  const resources = ofAddressResources(np);
  const name = busId ?? ofDeviceMakeBusId(np);
  const pdev = new PlatformDevice(
    host.deviceContext,
    name,
    PLATFORM_DEVID_NONE,
    resources,
    parent ?? host.platformRoot,
  );
  pdev.ofNode = np;
  return pdev;
}

/**
 * drivers/of/platform.c: of_platform_device_create_pdata() — null for an unavailable or
 * already populated node, or when device_add() fails (the OF_POPULATED flag is then cleared).
 */
export function ofPlatformDeviceCreate(
  host: OfPlatformHost,
  np: OfNode,
  busId: string | null,
  parent: Device | null,
): PlatformDevice | null {
  if (!np.isAvailable() || np.testAndSetFlag(OF_POPULATED)) return null;
  const pdev = ofDeviceAlloc(host, np, busId, parent);
  pdev.dma.coherentMask = DMA_BIT_MASK_32;
  pdev.dma.mask ??= pdev.dma.coherentMask;
  pdev.bus = host.platformBus;
  // of_device_add(): the platform name is the device name, so name matching uses it.
  pdev.pdevName = pdev.name;
  pdev.id = PLATFORM_DEVID_NONE;
  try {
    host.deviceAdd(pdev);
  } catch (e) {
    negativeErrno(e);
    np.clearFlag(OF_POPULATED);
    return null;
  }
  return pdev;
}

/** drivers/of/platform.c: of_amba_device_create(). */
export function ofAmbaDeviceCreate(
  host: OfPlatformHost,
  np: OfNode,
  busId: string | null,
  parent: Device | null,
): AmbaDevice | null {
  if (!np.isAvailable() || np.testAndSetFlag(OF_POPULATED)) return null;
  const pr = host.printk.pr("OF: ");
  const res = np.translatedReg()?.[0];
  const name = busId ?? ofDeviceMakeBusId(np);
  if (!res) {
    pr.err(`amba: of_address_to_resource() failed (-22) for ${np.path}`);
    np.clearFlag(OF_POPULATED);
    return null;
  }
  const resource = new Resource(
    res.address,
    res.address + res.size - 1,
    IORESOURCE_MEM,
    np.strings("reg-names")[0] ?? np.fullName,
  );
  const adev = new AmbaDevice(host.deviceContext, name, resource, parent ?? host.platformRoot);
  adev.bus = host.ambaBus;
  adev.ofNode = np;
  adev.dma.coherentMask = DMA_BIT_MASK_32;
  adev.dma.mask = adev.dma.coherentMask;
  // Allow the hardware peripheral ID to be overridden from the tree.
  adev.periphid = np.readU32("arm,primecell-periphid") ?? 0;
  try {
    host.ambaDeviceAdd(adev);
  } catch (e) {
    pr.err(`amba_device_add() failed (${negativeErrno(e)}) for ${np.path}`);
    np.clearFlag(OF_POPULATED);
    return null;
  }
  return adev;
}

/** drivers/of/platform.c: of_platform_bus_create() — one node, and its children if a bus. */
export function ofPlatformBusCreate(
  host: OfPlatformHost,
  bus: OfNode,
  matches: readonly OfDeviceId[],
  parent: Device | null,
  strict: boolean,
): number {
  if (strict && !bus.hasProperty("compatible")) return 0;
  if (ofMatchNode(OF_SKIPPED_NODE_TABLE, bus)) return 0;
  if (bus.checkFlag(OF_POPULATED_BUS)) return 0;
  if (bus.isCompatible("arm,primecell")) {
    // No error: older trees carry primecells the kernel cannot instantiate.
    ofAmbaDeviceCreate(host, bus, null, parent);
    return 0;
  }
  const dev = ofPlatformDeviceCreate(host, bus, null, parent);
  if (!dev || !ofMatchNode(matches, bus)) return 0;
  let rc = 0;
  for (const child of bus.children) {
    rc = ofPlatformBusCreate(host, child, matches, dev, strict);
    if (rc) break;
  }
  bus.setFlag(OF_POPULATED_BUS);
  return rc;
}

/** drivers/of/platform.c: of_platform_populate() — every child of `root` (strict). */
export function ofPlatformPopulate(
  host: OfPlatformHost,
  root: OfNode | null,
  matches: readonly OfDeviceId[],
  parent: Device | null,
): number {
  const r = root ?? host.of.root;
  let rc = 0;
  for (const child of r.children) {
    rc = ofPlatformBusCreate(host, child, matches, parent, true);
    if (rc) break;
  }
  r.setFlag(OF_POPULATED_BUS);
  return rc;
}

/** drivers/of/platform.c: of_platform_default_populate(). */
export function ofPlatformDefaultPopulate(
  host: OfPlatformHost,
  root: OfNode | null,
  parent: Device | null,
): number {
  return ofPlatformPopulate(host, root, OF_DEFAULT_BUS_MATCH_TABLE, parent);
}

/**
 * drivers/of/platform.c: of_platform_default_populate_init() (arch_initcall_sync, non-PPC):
 * the listed /reserved-memory children, /firmware, a /chosen simple-framebuffer, then the
 * whole tree.
 */
export function ofPlatformDefaultPopulateInit(host: OfPlatformHost): number {
  const reserved = host.of.findByPath("/reserved-memory");
  if (reserved) {
    for (const np of reserved.children) {
      if (ofMatchNode(RESERVED_MEM_MATCHES, np)) ofPlatformDeviceCreate(host, np, null, null);
    }
  }
  const firmware = host.of.findByPath("/firmware");
  if (firmware) ofPlatformDefaultPopulate(host, firmware, null);
  const chosen = host.of.findByPath("/chosen");
  const fb = chosen?.children.find((c) => c.isAvailable() && c.isCompatible("simple-framebuffer"));
  if (fb) ofPlatformDeviceCreate(host, fb, null, null);
  return ofPlatformDefaultPopulate(host, null, null);
}

/**
 * drivers/of/platform.c: of_platform_device_destroy() — for a populated device: its populated
 * children first, then the device; the node's flags are cleared.
 */
export function ofPlatformDeviceDestroy(dev: Device, unregister: (dev: Device) => void): void {
  const np = dev.ofNode;
  if (!np?.checkFlag(OF_POPULATED)) return;
  if (np.checkFlag(OF_POPULATED_BUS)) {
    for (const child of [...dev.children]) ofPlatformDeviceDestroy(child, unregister);
  }
  np.clearFlag(OF_POPULATED);
  np.clearFlag(OF_POPULATED_BUS);
  unregister(dev);
}

/** Marks the early-declared nodes OF_POPULATED (of_irq_init()/of_clk_init() did it in Linux). */
export function ofMarkEarlyDeclared(
  tree: OfTree,
  table = OF_EARLY_DECLARED,
  printk?: Printk,
): void {
  for (const np of tree.nodes()) {
    if (!np.isAvailable()) continue;
    for (const e of table) {
      if (np.isCompatible(e.compatible)) {
        np.setFlag(OF_POPULATED);
        printk?.pr().debug(`${e.by}: ${np.path} initialised early`);
      }
    }
  }
}
