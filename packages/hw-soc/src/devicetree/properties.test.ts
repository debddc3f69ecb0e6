import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDts } from "./dts-parser.js";
import { decodeFdt } from "./fdt.js";
import {
  addressCells,
  bytesProp,
  cellsProp,
  combineCells,
  DtValueError,
  emptyProp,
  findProperty,
  hasProperty,
  isAvailable,
  nodeAncestry,
  nodeByPath,
  nodePath,
  phandleMap,
  propString,
  propStrings,
  propU32,
  propU32s,
  readLocalReg,
  readReg,
  sizeCells,
  stringsProp,
  walkNodes,
} from "./properties.js";
import type { DtNode } from "./tree.js";

const qemuVirt = () =>
  decodeFdt(
    new Uint8Array(
      readFileSync(new URL("../../test/fixtures/qemu-virt-smmuv3-gicv3.dtb", import.meta.url)),
    ),
  );

const tree = parseDts(`/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	compatible = "vfio-lab,virt", "linux,dummy-virt";
	gic: intc@8000000 {
		compatible = "arm,gic-v3";
		reg = <0x0 0x08000000 0x0 0x10000>, <0x0 0x080a0000 0x0 0xf60000>;
		phandle = <0x8002>;
	};
	soc {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges = <0x0 0x0 0x0c000000 0x02000000>, <0x10000000 0x1 0x00000000 0x1000>;
		pl330@100000 {
			reg = <0x100000 0x1000>;
			status = "okay";
		};
		high@10000000 {
			reg = <0x10000000 0x100>;
		};
		outside@3000000 {
			reg = <0x3000000 0x100>;
		};
		inner {
			#address-cells = <1>;
			#size-cells = <1>;
			ranges;
			uart@2000 {
				reg = <0x2000 0x100>;
				status = "disabled";
			};
		};
		nobus {
			#address-cells = <1>;
			#size-cells = <0>;
			dev@7 {
				reg = <7>;
				status = "ok";
			};
		};
	};
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		cpu@0 {
			reg = <0>;
			linux,phandle = <5>;
		};
	};
	odd {
		data = [01 02 03];
		strs = "a", "", "bc";
		unterminated = [61 62];
		one = <7>;
		two = <7 8>;
		empty;
		status = "fail";
	};
};
`);

const at = (path: string): DtNode => {
  const node = nodeByPath(tree, path);
  if (node === undefined) throw new Error(`no ${path}`);
  return node;
};

describe("typed property views", () => {
  it("findProperty and hasProperty look a property up by exact name", () => {
    expect(findProperty(at("/odd"), "one")?.value).toEqual(new Uint8Array([0, 0, 0, 7]));
    expect(findProperty(at("/odd"), "ONE")).toBeUndefined();
    expect(hasProperty(at("/odd"), "empty")).toBe(true);
    expect(hasProperty(at("/odd"), "missing")).toBe(false);
  });

  it("propU32s reads big-endian cells and refuses a length that is not a multiple of 4", () => {
    expect(propU32s(at("/odd"), "two")).toEqual([7, 8]);
    expect(propU32s(at("/odd"), "empty")).toEqual([]);
    expect(propU32s(at("/odd"), "missing")).toBeUndefined();
    expect(() => propU32s(at("/odd"), "data")).toThrow(DtValueError);
    expect(() => propU32s(at("/odd"), "data")).toThrow(/3 bytes long/);
  });

  it("propU32 wants exactly one cell", () => {
    expect(propU32(at("/odd"), "one")).toBe(7);
    expect(propU32(at("/odd"), "missing")).toBeUndefined();
    expect(() => propU32(at("/odd"), "two")).toThrow(/2 cells, expected exactly 1/);
    expect(() => propU32(at("/odd"), "empty")).toThrow(DtValueError);
  });

  it("propStrings splits a NUL-separated list, keeping empty members", () => {
    expect(propStrings(tree.root, "compatible")).toEqual(["vfio-lab,virt", "linux,dummy-virt"]);
    expect(propStrings(at("/odd"), "strs")).toEqual(["a", "", "bc"]);
    expect(propStrings(at("/odd"), "empty")).toEqual([]);
    expect(propString(tree.root, "compatible")).toBe("vfio-lab,virt");
    expect(propString(at("/odd"), "missing")).toBeUndefined();
    expect(() => propStrings(at("/odd"), "unterminated")).toThrow(
      /not a NUL-terminated string list/,
    );
  });

  it("isAvailable follows status: absent, okay and ok are available, anything else is not", () => {
    expect(isAvailable(at("/soc"))).toBe(true);
    expect(isAvailable(at("/soc/pl330@100000"))).toBe(true);
    expect(isAvailable(at("/soc/nobus/dev@7"))).toBe(true);
    expect(isAvailable(at("/soc/inner/uart@2000"))).toBe(false);
    expect(isAvailable(at("/odd"))).toBe(false);
  });

  it("DtValueError is recognised across package copies", () => {
    const err = new DtValueError("x", "reg");
    expect(DtValueError.isInstance(err)).toBe(true);
    expect(DtValueError.isInstance(new Error("x"))).toBe(false);
    expect(err.property).toBe("reg");
  });
});

describe("paths and walking", () => {
  it("nodeByPath needs the exact name, unit address included", () => {
    expect(nodeByPath(tree, "/")).toBe(tree.root);
    expect(nodeByPath(tree, "/soc/pl330@100000")?.name).toBe("pl330@100000");
    expect(nodeByPath(tree, "/soc/pl330")).toBeUndefined();
    expect(nodeByPath(tree, "soc")).toBeUndefined();
    expect(nodeByPath(tree.root, "/cpus/cpu@0")?.name).toBe("cpu@0");
  });

  it("walkNodes visits in document order with path, parent and ancestors", () => {
    const seen: string[] = [];
    walkNodes(tree, (node, path, parent, ancestors) => {
      seen.push(path);
      if (path === "/") expect(parent).toBeUndefined();
      else expect(ancestors[ancestors.length - 1]).toBe(parent);
      expect(nodePath(tree, node)).toBe(path);
    });
    expect(seen).toEqual([
      "/",
      "/intc@8000000",
      "/soc",
      "/soc/pl330@100000",
      "/soc/high@10000000",
      "/soc/outside@3000000",
      "/soc/inner",
      "/soc/inner/uart@2000",
      "/soc/nobus",
      "/soc/nobus/dev@7",
      "/cpus",
      "/cpus/cpu@0",
      "/odd",
    ]);
  });

  it("walkNodes skips a subtree when the visitor returns false", () => {
    const seen: string[] = [];
    walkNodes(tree, (_n, path) => {
      seen.push(path);
      return path !== "/soc";
    });
    expect(seen).toEqual(["/", "/intc@8000000", "/soc", "/cpus", "/cpus/cpu@0", "/odd"]);
  });

  it("nodePath and nodeAncestry answer undefined for a node from another tree", () => {
    const stranger: DtNode = { name: "x", properties: [], children: [], labels: [] };
    expect(nodePath(tree, stranger)).toBeUndefined();
    expect(nodeAncestry(tree, stranger)).toBeUndefined();
    expect(nodeAncestry(tree, at("/soc/inner"))?.map((n) => n.name)).toEqual(["", "soc", "inner"]);
  });

  it("phandleMap indexes phandle and linux,phandle values", () => {
    const map = phandleMap(tree);
    expect(map.get(0x8002)).toBe(at("/intc@8000000"));
    expect(map.get(5)).toBe(at("/cpus/cpu@0"));
    expect(map.size).toBe(2);
  });

  it("phandleMap resolves every interrupt-parent of QEMU's virt tree", () => {
    const virt = qemuVirt();
    const map = phandleMap(virt);
    expect(map.get(propU32(virt.root, "interrupt-parent") as number)?.name).toBe("intc@8000000");
  });
});

describe("cells and reg", () => {
  it("#address-cells and #size-cells default to 2 and 1 (Devicetree Specification §2.3.5)", () => {
    expect(addressCells(at("/odd"))).toBe(2);
    expect(sizeCells(at("/odd"))).toBe(1);
    expect(addressCells(at("/soc"))).toBe(1);
    expect(sizeCells(at("/cpus"))).toBe(0);
  });

  it("combineCells joins big-endian cells and refuses what a JS number cannot hold", () => {
    expect(combineCells([0x1, 0x2], 0, 2)).toBe(0x1_0000_0002);
    expect(combineCells([0x1, 0x2], 1, 1)).toBe(2);
    expect(combineCells([], 0, 0)).toBe(0);
    expect(combineCells([0x1f_ffff, 0xffff_ffff], 0, 2)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => combineCells([0x20_0000, 0], 0, 2)).toThrow(/does not fit in 2\^53/);
    expect(() => combineCells([1, 2], 1, 2)).toThrow(/runs past/);
    expect(() => combineCells([1], -1, 1)).toThrow(DtValueError);
  });

  it("readReg decodes root-level reg with the root's cell counts", () => {
    expect(readReg(at("/intc@8000000"), tree.root)).toEqual([
      { address: 0x0800_0000, size: 0x1_0000 },
      { address: 0x080a_0000, size: 0xf6_0000 },
    ]);
  });

  it("readReg translates through a bus's ranges to a CPU physical address", () => {
    const pl330 = at("/soc/pl330@100000");
    expect(readReg(pl330, at("/soc"), tree)).toEqual([{ address: 0x0c10_0000, size: 0x1000 }]);
    expect(readReg(pl330, nodeAncestry(tree, at("/soc")) as DtNode[])).toEqual([
      { address: 0x0c10_0000, size: 0x1000 },
    ]);
    expect(readReg(at("/soc/high@10000000"), at("/soc"), tree)).toEqual([
      { address: 0x1_0000_0000, size: 0x100 },
    ]);
  });

  it("readReg treats an empty ranges as the identity and keeps translating upwards", () => {
    expect(readReg(at("/soc/inner/uart@2000"), at("/soc/inner"), tree)).toEqual([
      { address: 0x0c00_2000, size: 0x100 },
    ]);
  });

  it("readReg refuses an address outside every ranges window", () => {
    expect(() => readReg(at("/soc/outside@3000000"), at("/soc"), tree)).toThrow(
      /outside every "ranges" window of soc/,
    );
  });

  it("readReg refuses a bus without ranges instead of returning a bus-local address", () => {
    expect(() => readReg(at("/soc/nobus/dev@7"), at("/soc/nobus"), tree)).toThrow(
      /bus nobus has no "ranges"/,
    );
    expect(() => readReg(at("/cpus/cpu@0"), at("/cpus"), tree)).toThrow(DtValueError);
    expect(readLocalReg(at("/cpus/cpu@0"), at("/cpus"))).toEqual([{ address: 0, size: 0 }]);
  });

  it("readReg needs the tree when the parent is not the root", () => {
    expect(() => readReg(at("/soc/pl330@100000"), at("/soc"))).toThrow(/needs the tree/);
    expect(() => readReg(at("/soc/pl330@100000"), [])).toThrow(DtValueError);
  });

  it("readReg refuses a reg whose length does not fit the cell counts", () => {
    const bad = parseDts(
      "/dts-v1/; / { #address-cells = <2>; #size-cells = <1>; d { reg = <0 1 2 3>; }; };",
    );
    expect(() => readReg(nodeByPath(bad, "/d") as DtNode, bad.root)).toThrow(/not a multiple/);
    expect(readReg(bad.root, bad.root)).toEqual([]);
  });

  it("readReg places QEMU's devices where QEMU maps them", () => {
    const virt = qemuVirt();
    const regs = new Map<string, number>();
    walkNodes(virt, (node, path, _parent, ancestors) => {
      if (hasProperty(node, "reg") && ancestors.length === 1 && !path.startsWith("/cpus")) {
        regs.set(path, (readReg(node, ancestors)[0] as { address: number }).address);
      }
    });
    expect(regs.get("/pl061@9030000")).toBe(0x0903_0000);
    expect(regs.get("/pl011@9000000")).toBe(0x0900_0000);
    expect(regs.get("/smmuv3@9050000")).toBe(0x0905_0000);
    expect(regs.get("/memory@40000000")).toBe(0x4000_0000);
  });
});

describe("property builders", () => {
  it("stringsProp NUL-terminates every string", () => {
    expect(stringsProp("compatible", ["arm,pl330", "arm,primecell"]).value).toEqual(
      new TextEncoder().encode("arm,pl330\0arm,primecell\0"),
    );
    expect(stringsProp("status", "okay").value).toEqual(new TextEncoder().encode("okay\0"));
    expect(() => stringsProp("x", "a\0b")).toThrow(DtValueError);
  });

  it("cellsProp writes big-endian u32 cells and refuses anything else", () => {
    expect(cellsProp("reg", [0x0c00_0000, 0x1000]).value).toEqual(
      new Uint8Array([0x0c, 0, 0, 0, 0, 0, 0x10, 0]),
    );
    expect(() => cellsProp("reg", [2 ** 32])).toThrow(/not a u32/);
    expect(() => cellsProp("reg", [-1])).toThrow(DtValueError);
    expect(() => cellsProp("reg", [1.5])).toThrow(DtValueError);
  });

  it("emptyProp and bytesProp make boolean and byte-string properties", () => {
    expect(emptyProp("dma-coherent")).toEqual({ name: "dma-coherent", value: new Uint8Array(0) });
    expect(bytesProp("mac", [0, 0x11, 0x22]).value).toEqual(new Uint8Array([0, 0x11, 0x22]));
  });
});
