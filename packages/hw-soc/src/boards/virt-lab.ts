/**
 * The default board: QEMU's `virt` machine (`-M virt,iommu=smmuv3,gic-version=3`) for every node
 * the two share — same addresses, node names, `compatible`s and interrupts as QEMU's own DTB — plus
 * our additions in QEMU's dynamic platform-bus window at 0x0c000000, where QEMU itself places
 * sysbus devices such as vfio-platform ones.
 *
 * Additions (offsets are inside the platform bus; its 64 interrupts are SPIs 112–175 as on QEMU):
 *
 * | node                 | model          | SPIs (level)    | behind the SMMU       |
 * |----------------------|----------------|-----------------|-----------------------|
 * | `dma@0`              | PL330 (AMBA)   | 112 abort, 113–120 irq0–7 | StreamID 0x10 |
 * | `ethernet@10000`     | Calxeda XGMAC  | 121–123         | StreamID 0x20         |
 * | `timer@20000`        | SP804 (AMBA)   | 124             | no (not a bus master) |
 * | `dma-test@30000`     | vfio-lab DMA test engine | 125   | StreamID 0x30         |
 * | `dma-test@31000`     | vfio-lab DMA test engine | 126   | StreamID 0x30 (shared: one IOMMU group) |
 *
 * As on QEMU, the PL011, PL031 and PL061 sit behind no IOMMU: that is the situation of the 2024
 * non-DMA device-assignment RFC.
 *
 * Caveat: QEMU's tree carries phandles 0x8000–0x8005; this source uses labels, so a DTS compiler
 * numbers them 1, 2, …. Nothing on the board depends on the values.
 */

const GIB = 1024 ** 3;
/** QEMU `virt` puts RAM at 1 GiB and the high PCIe ECAM at 256 GiB. */
const RAM_BASE = 0x4000_0000;
const MAX_RAM = 255 * GIB;

export interface VirtLabOptions {
  /** RAM size in bytes (default 4 GiB; sparse, so only touched pages cost memory). */
  readonly ramSize?: number;
}

function cells64(value: number): string {
  const hi = Math.floor(value / 2 ** 32);
  const lo = value % 2 ** 32;
  return `0x${hi.toString(16)} 0x${lo.toString(16)}`;
}

function spi(n: number, flags: number): string {
  return `<0x0 0x${n.toString(16)} 0x${flags.toString(16)}>`;
}

const EDGE_RISING = 1;
const LEVEL_HIGH = 4;

function virtioTransports(): string {
  const nodes: string[] = [];
  for (let i = 0; i < 32; i++) {
    const base = 0x0a00_0000 + i * 0x200;
    nodes.push(`
	virtio_mmio@${base.toString(16)} {
		dma-coherent;
		interrupts = ${spi(0x10 + i, EDGE_RISING)};
		reg = <0x0 0x${base.toString(16)} 0x0 0x200>;
		compatible = "virtio,mmio";
	};`);
  }
  return nodes.join("\n");
}

/**
 * QEMU's legacy INTx swizzle for the generic PCIe host: slot s, pin p (1–4) → SPI 3 + (s + p − 1) % 4,
 * level-high. Each entry: child unit address (3 cells), pin, GIC phandle, GIC unit address (2
 * cells), GIC specifier (3 cells).
 */
function pcieInterruptMap(): string {
  const entries: string[] = [];
  for (let slot = 0; slot < 4; slot++) {
    for (let pin = 1; pin <= 4; pin++) {
      const n = 3 + ((slot + pin - 1) % 4);
      entries.push(
        `0x${(slot << 11).toString(16)} 0x0 0x0 0x${pin.toString(16)} &gic 0x0 0x0 0x0 0x${n.toString(16)} 0x4`,
      );
    }
  }
  return `<${entries.join(" ")}>`;
}

/** The board as DTS text (what `Soc.fromDeviceTree()` takes, and what `dtc` compiles). */
export function virtLab(options: VirtLabOptions = {}): string {
  const ramSize = options.ramSize ?? 4 * GIB;
  if (!Number.isSafeInteger(ramSize) || ramSize <= 0 || ramSize % 4096 !== 0 || ramSize > MAX_RAM) {
    throw new RangeError(
      `virtLab: ramSize must be a positive multiple of 4 KiB up to 255 GiB, got ${ramSize}`,
    );
  }
  const pl330Irqs = Array.from({ length: 9 }, (_, i) => spi(112 + i, LEVEL_HIGH)).join(", ");
  return `/dts-v1/;

/ {
	interrupt-parent = <&gic>;
	model = "linux,dummy-virt";
	#size-cells = <0x2>;
	#address-cells = <0x2>;
	compatible = "linux,dummy-virt";

	psci {
		migrate = <0xc4000005>;
		cpu_on = <0xc4000003>;
		cpu_off = <0x84000002>;
		cpu_suspend = <0xc4000001>;
		method = "hvc";
		compatible = "arm,psci-1.0", "arm,psci-0.2", "arm,psci";
	};

	memory@40000000 {
		reg = <0x0 0x${RAM_BASE.toString(16)} ${cells64(ramSize)}>;
		device_type = "memory";
	};

	platform-bus@c000000 {
		interrupt-parent = <&gic>;
		ranges = <0x0 0x0 0xc000000 0x2000000>;
		#address-cells = <0x1>;
		#size-cells = <0x1>;
		compatible = "qemu,platform", "simple-bus";

		dma@0 {
			compatible = "arm,pl330", "arm,primecell";
			reg = <0x0 0x1000>;
			interrupts = ${pl330Irqs};
			#dma-cells = <0x1>;
			dma-coherent;
			iommus = <&smmu 0x10>;
			clocks = <&apb_pclk>;
			clock-names = "apb_pclk";
		};

		ethernet@10000 {
			compatible = "calxeda,hb-xgmac";
			reg = <0x10000 0x1000>;
			interrupts = ${spi(121, LEVEL_HIGH)}, ${spi(122, LEVEL_HIGH)}, ${spi(123, LEVEL_HIGH)};
			dma-coherent;
			iommus = <&smmu 0x20>;
		};

		timer@20000 {
			compatible = "arm,sp804", "arm,primecell";
			reg = <0x20000 0x1000>;
			interrupts = ${spi(124, LEVEL_HIGH)};
			clocks = <&apb_pclk &apb_pclk &apb_pclk>;
			clock-names = "timclken1", "timclken2", "apb_pclk";
		};

		dma-test@30000 {
			compatible = "vfio-lab,dma-test";
			reg = <0x30000 0x1000>;
			interrupts = ${spi(125, LEVEL_HIGH)};
			dma-coherent;
			iommus = <&smmu 0x30>;
		};

		dma-test@31000 {
			compatible = "vfio-lab,dma-test";
			reg = <0x31000 0x1000>;
			interrupts = ${spi(126, LEVEL_HIGH)};
			dma-coherent;
			iommus = <&smmu 0x30>;
		};
	};

	fw-cfg@9020000 {
		dma-coherent;
		reg = <0x0 0x9020000 0x0 0x18>;
		compatible = "qemu,fw-cfg-mmio";
	};
${virtioTransports()}

	gpio-keys {
		compatible = "gpio-keys";

		poweroff {
			gpios = <&gpio 0x3 0x0>;
			linux,code = <0x74>;
			label = "GPIO Key Poweroff";
		};
	};

	gpio: pl061@9030000 {
		clock-names = "apb_pclk";
		clocks = <&apb_pclk>;
		interrupts = ${spi(7, LEVEL_HIGH)};
		gpio-controller;
		#gpio-cells = <0x2>;
		compatible = "arm,pl061", "arm,primecell";
		reg = <0x0 0x9030000 0x0 0x1000>;
	};

	smmu: smmuv3@9050000 {
		#iommu-cells = <0x1>;
		dma-coherent;
		interrupt-names = "eventq", "priq", "cmdq-sync", "gerror";
		interrupts = ${spi(0x4a, EDGE_RISING)}, ${spi(0x4b, EDGE_RISING)}, ${spi(0x4c, EDGE_RISING)}, ${spi(0x4d, EDGE_RISING)};
		reg = <0x0 0x9050000 0x0 0x20000>;
		compatible = "arm,smmu-v3";
	};

	pcie@10000000 {
		iommu-map = <0x0 &smmu 0x0 0x10000>;
		interrupt-map-mask = <0x1800 0x0 0x0 0x7>;
		interrupt-map = ${pcieInterruptMap()};
		#interrupt-cells = <0x1>;
		ranges = <0x1000000 0x0 0x0 0x0 0x3eff0000 0x0 0x10000 0x2000000 0x0 0x10000000 0x0 0x10000000 0x0 0x2eff0000 0x3000000 0x80 0x0 0x80 0x0 0x80 0x0>;
		reg = <0x40 0x10000000 0x0 0x10000000>;
		msi-map = <0x0 &its 0x0 0x10000>;
		dma-coherent;
		bus-range = <0x0 0xff>;
		linux,pci-domain = <0x0>;
		#size-cells = <0x2>;
		#address-cells = <0x3>;
		device_type = "pci";
		compatible = "pci-host-ecam-generic";
	};

	pl031@9010000 {
		clock-names = "apb_pclk";
		clocks = <&apb_pclk>;
		interrupts = ${spi(2, LEVEL_HIGH)};
		reg = <0x0 0x9010000 0x0 0x1000>;
		compatible = "arm,pl031", "arm,primecell";
	};

	pl011@9000000 {
		clock-names = "uartclk", "apb_pclk";
		clocks = <&apb_pclk &apb_pclk>;
		interrupts = ${spi(1, LEVEL_HIGH)};
		reg = <0x0 0x9000000 0x0 0x1000>;
		compatible = "arm,pl011", "arm,primecell";
	};

	pmu {
		interrupts = <0x1 0x7 0x4>;
		compatible = "arm,armv8-pmuv3";
	};

	gic: intc@8000000 {
		reg = <0x0 0x8000000 0x0 0x10000 0x0 0x80a0000 0x0 0xf60000>;
		#redistributor-regions = <0x1>;
		compatible = "arm,gic-v3";
		ranges;
		#size-cells = <0x2>;
		#address-cells = <0x2>;
		interrupt-controller;
		#interrupt-cells = <0x3>;

		its: its@8080000 {
			reg = <0x0 0x8080000 0x0 0x20000>;
			#msi-cells = <0x1>;
			msi-controller;
			compatible = "arm,gic-v3-its";
		};
	};

	flash@0 {
		bank-width = <0x4>;
		reg = <0x0 0x0 0x0 0x4000000 0x0 0x4000000 0x0 0x4000000>;
		compatible = "cfi-flash";
	};

	cpus {
		#size-cells = <0x0>;
		#address-cells = <0x1>;

		cpu-map {

			socket0 {

				cluster0 {

					core0 {
						cpu = <&cpu0>;
					};
				};
			};
		};

		cpu0: cpu@0 {
			reg = <0x0>;
			compatible = "arm,cortex-a57";
			device_type = "cpu";
		};
	};

	timer {
		interrupts = <0x1 0xd 0x4 0x1 0xe 0x4 0x1 0xb 0x4 0x1 0xa 0x4>;
		always-on;
		compatible = "arm,armv8-timer", "arm,armv7-timer";
	};

	apb_pclk: apb-pclk {
		clock-output-names = "clk24mhz";
		clock-frequency = <0x16e3600>;
		#clock-cells = <0x0>;
		compatible = "fixed-clock";
	};

	chosen {
		stdout-path = "/pl011@9000000";
	};
};
`;
}

/** Named constants for the board's additions, so scenarios need not repeat addresses. */
export const virtLabMap = {
  ram: { base: RAM_BASE },
  gicDistributor: 0x0800_0000,
  uart: { node: "pl011@9000000", base: 0x0900_0000, spi: 1 },
  rtc: { node: "pl031@9010000", base: 0x0901_0000, spi: 2 },
  gpio: { node: "pl061@9030000", base: 0x0903_0000, spi: 7 },
  smmu: { node: "smmuv3@9050000", base: 0x0905_0000 },
  pl330: { node: "dma@0", base: 0x0c00_0000, streamId: 0x10, abortSpi: 112, eventSpis: 113 },
  xgmac: { node: "ethernet@10000", base: 0x0c01_0000, streamId: 0x20, spis: [121, 122, 123] },
  sp804: { node: "timer@20000", base: 0x0c02_0000, spi: 124 },
  dmaTest: [
    { node: "dma-test@30000", base: 0x0c03_0000, streamId: 0x30, spi: 125 },
    { node: "dma-test@31000", base: 0x0c03_1000, streamId: 0x30, spi: 126 },
  ],
} as const;
