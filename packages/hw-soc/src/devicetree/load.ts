/**
 * One entry point for "a device tree, in whatever form the caller has it": DTB bytes (recognised
 * by the FDT magic, as the Linux boot protocol and U-Boot recognise a blob), DTS text (as bytes
 * or a string), or an already parsed tree.
 */

import { type ParseDtsOptions, parseDts } from "./dts-parser.js";
import { decodeFdt, isFdt } from "./fdt.js";
import type { DeviceTree } from "./tree.js";

const utf8 = new TextDecoder("utf-8");

export function loadDeviceTree(
  input: string | Uint8Array | DeviceTree,
  options: ParseDtsOptions = {},
): DeviceTree {
  if (typeof input === "string") return parseDts(input, options);
  if (input instanceof Uint8Array) {
    return isFdt(input) ? decodeFdt(input) : parseDts(utf8.decode(input), options);
  }
  return input;
}
