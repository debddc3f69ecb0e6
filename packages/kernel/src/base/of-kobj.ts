/**
 * /sys/firmware/devicetree (drivers/of/kobj.c, drivers/of/base.c: of_core_init()): one
 * directory per node (`base` for the root, then each node's full name) and one file per
 * property holding the property's raw bytes. Devices link to their node there (`of_node`).
 *
 * Every node also shows a `name` property: drivers/of/fdt.c populate_properties() recreates it
 * from the node name (without unit address) when the flattened tree has none.
 *
 * Caveat: the sysfs API carries text attributes, not binary ones, so only the string-valued
 * properties of `STRING_PROPERTIES` are created (their bytes, NULs included, read back exactly);
 * cell-valued properties (`reg`, `interrupts`, …) are left out rather than shown mangled.
 * No `#1` renaming of duplicate names, no /proc/device-tree link.
 */

import type { Sysfs } from "../fs/sysfs-api.js";
import type { OfNode, OfTree } from "./of-node.js";

/** Where of_core_init() puts the tree: `of_kset` under /sys/firmware. */
export const OF_SYSFS_BASE = "/sys/firmware/devicetree/base";

/** Properties created as files: string-valued ones whose bytes survive a text attribute. */
const STRING_PROPERTIES: ReadonlySet<string> = new Set([
  "compatible",
  "model",
  "status",
  "device_type",
  "clock-names",
  "clock-output-names",
  "interrupt-names",
  "reg-names",
  "label",
  "method",
  "stdout-path",
]);

/** The sysfs directory of a node (`OF_SYSFS_BASE` for the root). */
export function ofNodeSysfsPath(np: OfNode): string {
  return np.path === "/" ? OF_SYSFS_BASE : `${OF_SYSFS_BASE}${np.path}`;
}

function asciiText(bytes: Uint8Array): string | undefined {
  let s = "";
  for (const b of bytes) {
    if (b >= 0x80) return undefined;
    s += String.fromCharCode(b);
  }
  return s;
}

/** drivers/of/kobj.c: __of_attach_node_sysfs() for every node of the tree, parents first. */
export function ofAttachTreeSysfs(sysfs: Sysfs, tree: OfTree): void {
  for (const np of tree.nodes()) {
    const dir = ofNodeSysfsPath(np);
    sysfs.mkdir(dir);
    let hasName = false;
    for (const prop of np.dt.properties) {
      if (prop.name === "name") hasName = true;
      if (prop.name !== "name" && !STRING_PROPERTIES.has(prop.name)) continue;
      const text = asciiText(prop.value);
      if (text === undefined || sysfs.exists(`${dir}/${prop.name}`)) continue;
      // __of_add_property_sysfs(): "security-*" properties are 0400, others 0444.
      const mode = prop.name.startsWith("security-") ? 0o400 : 0o444;
      sysfs.createFile(`${dir}/${prop.name}`, { mode, show: () => text });
    }
    if (!hasName) {
      const name = `${np.parent ? np.name : ""}\0`;
      sysfs.createFile(`${dir}/name`, { mode: 0o444, show: () => name });
    }
  }
}
