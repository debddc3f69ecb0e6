import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DtsSyntaxError } from "./dts-parser.js";
import { encodeFdt, FdtFormatError } from "./fdt.js";
import { loadDeviceTree } from "./load.js";

const src = '/dts-v1/;\n/ { compatible = "vfio-lab,virt"; };\n';

describe("loadDeviceTree", () => {
  it("parses DTS text", () => {
    expect(loadDeviceTree(src).root.properties[0]?.name).toBe("compatible");
  });

  it("decodes bytes that start with the FDT magic", () => {
    const dtb = new Uint8Array(
      readFileSync(new URL("../../test/fixtures/qemu-virt-smmuv3-gicv3.dtb", import.meta.url)),
    );
    const t = loadDeviceTree(dtb);
    expect(encodeFdt(t)).toEqual(dtb);
  });

  it("parses bytes without the magic as UTF-8 DTS text", () => {
    const t = loadDeviceTree(new TextEncoder().encode(src));
    expect(encodeFdt(t)).toEqual(encodeFdt(loadDeviceTree(src)));
  });

  it("hands a parsed tree back as it is", () => {
    const t = loadDeviceTree(src);
    expect(loadDeviceTree(t)).toBe(t);
  });

  it("reports a broken blob or source with the matching error", () => {
    const dtb = encodeFdt(loadDeviceTree(src));
    expect(() => loadDeviceTree(dtb.slice(0, 50))).toThrow(FdtFormatError);
    expect(() => loadDeviceTree("/ { };", { filename: "board.dts" })).toThrow(DtsSyntaxError);
    expect(() => loadDeviceTree("/ { };", { filename: "board.dts" })).toThrow(/^board\.dts:1:1: /);
  });
});
