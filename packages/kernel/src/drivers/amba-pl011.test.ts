import { fc, test as fcTest } from "@fast-check/vitest";
import { Pl011 } from "@vfio-lab/hw-soc";
import { describe, expect, test } from "vitest";
import { IRQ_HANDLED } from "../irq/irq-flags.js";
import { KERN_DEBUG, KERN_INFO } from "../printk/levels.js";
import {
  UART_CR,
  UART_INT,
  UART_LCRH,
  UART011,
  type UartAmbaPort,
  uartParseOptions,
} from "./amba-pl011.js";
import { boardWorld } from "./board-test-fixture.js";

const BASE = 0x0900_0000;
const DEV = "9000000.pl011";

function uartWorld() {
  const w = boardWorld();
  const adev = w.amba(DEV);
  const uart = w.soc.deviceOf(Pl011, "pl011@9000000");
  const port = adev.driverData as UartAmbaPort;
  const reg = (off: number) => w.soc.bus.read(BASE + off, 4);
  const sent = () => new TextDecoder().decode(uart.takeTransmitted());
  return { ...w, adev, uart, port, reg, sent };
}

describe("uart-pl011 probe", () => {
  test("binds to 9000000.pl011 and reports the port as uart_report_port() does", () => {
    const w = uartWorld();
    expect(w.adev.driver?.name).toBe("uart-pl011");
    const irq = w.adev.irq[0];
    expect(w.kernel.printk.records().map((r) => r.text)).toContain(
      `${DEV}: ttyAMA0 at MMIO 0x9000000 (irq = ${irq}, base_baud = 0) is a PL011 rev1`,
    );
    expect(w.port.name).toBe("ttyAMA0");
    expect(w.port.type).toBe("PL011 rev1");
  });

  test("the /chosen stdout-path UART becomes the console", () => {
    const w = uartWorld();
    const texts = w.kernel.printk.records().map((r) => r.text);
    const report = texts.findIndex((t) => t.startsWith(`${DEV}: ttyAMA0 at MMIO`));
    expect(texts[report + 1]).toBe("printk: legacy console [ttyAMA0] enabled");
    expect(w.port.console).toBe(true);
  });

  test("requests its interrupt as the shared uart-pl011, shown in /proc/interrupts", () => {
    const w = uartWorld();
    const irq = w.adev.irq[0] as number;
    expect(w.interrupts()).toContain(
      `${String(irq).padStart(4)}:          0  GICv3      33 Level     uart-pl011\n`,
    );
    expect(w.irq.irqInfo(irq)?.actions).toEqual(["uart-pl011"]);
  });

  test("programs the UART as pl011_startup() and set_termios do (38400 8N1, FIFO on)", () => {
    const w = uartWorld();
    // 24 MHz UARTCLK: quot = round(24e6 * 4 / 38400) = 2500 = 39 * 64 + 4.
    expect(w.reg(UART011.IBRD)).toBe(39);
    expect(w.reg(UART011.FBRD)).toBe(4);
    expect(w.reg(UART011.LCRH)).toBe(UART_LCRH.WLEN_8 | UART_LCRH.FEN);
    expect(w.reg(UART011.IFLS)).toBe(0x12);
    expect(w.reg(UART011.CR)).toBe(
      UART_CR.UARTEN | UART_CR.TXE | UART_CR.RXE | UART_CR.DTR | UART_CR.RTS,
    );
    expect(w.reg(UART011.IMSC)).toBe(UART_INT.RX | UART_INT.RT);
    expect(w.port.uartclk).toBe(24_000_000);
    expect(w.port.started).toBe(true);
  });

  test("a boot loader's programming is kept as the console's settings", () => {
    const w = uartWorld();
    w.echo("/sys/bus/amba/drivers/uart-pl011/unbind", DEV);
    w.uart.firmwareSetup(115_200);
    w.echo("/sys/bus/amba/drivers/uart-pl011/bind", DEV);
    // pl011_console_get_options(): 24e6 * 4 / (64 * 13 + 1), as Linux reads it back.
    expect((w.adev.driverData as UartAmbaPort).termios?.baud).toBe(115_246);
  });
});

describe("the console", () => {
  test("replays the log, each line as [time] text\\r\\n", () => {
    const w = uartWorld();
    const out = w.sent();
    expect(out.startsWith("[    0.000000] Booting Linux on physical CPU 0x0000000000")).toBe(true);
    expect(out).toContain("[    0.000000] printk: legacy console [ttyAMA0] enabled\r\n");
  });

  test("writes later messages as they are logged, but not debug ones", () => {
    const w = uartWorld();
    w.sent();
    w.kernel.printk.printk(KERN_INFO, "hello from the kernel");
    w.kernel.printk.printk(KERN_DEBUG, "too chatty");
    expect(w.sent()).toBe("[    0.000000] hello from the kernel\r\n");
  });

  test("leaves CR as it found it", () => {
    const w = uartWorld();
    const cr = w.reg(UART011.CR);
    w.port.consoleWrite("x\n");
    expect(w.reg(UART011.CR)).toBe(cr);
    expect(w.sent().endsWith("x\r\n")).toBe(true);
  });
});

describe("the tty", () => {
  test("transmits what is written and counts it in icount.tx", () => {
    const w = uartWorld();
    w.sent();
    expect(w.port.writeTty("hello, uart")).toBe(11);
    expect(w.sent()).toBe("hello, uart");
    expect(w.port.icount.tx).toBe(11);
    expect(w.port.txEmpty()).toBe(true);
  });

  test("the RX interrupt drains the FIFO into the tty (trigger level and timeout)", () => {
    const w = uartWorld();
    const irq = w.adev.irq[0] as number;
    // 8 bytes reach the RX trigger level (4/8 of 16): the interrupt comes at once.
    w.uart.inject(new TextEncoder().encode("12345678"));
    w.run();
    expect(new TextDecoder().decode(w.port.readTty())).toBe("12345678");
    // 3 bytes stay under it: the receive timeout (32 bit times) brings them.
    w.uart.inject(new TextEncoder().encode("abc"));
    w.run();
    expect(new TextDecoder().decode(w.port.readTty())).toBe("abc");
    expect(w.port.icount.rx).toBe(11);
    expect(w.irq.irqInfo(irq)?.count).toBe(2);
  });

  test("EIO for a write once the tty is hung up", () => {
    const w = uartWorld();
    w.echo(`/sys/bus/amba/drivers/uart-pl011/unbind`, DEV);
    expect(() => w.port.writeTty("late")).toThrowErrno("EIO");
  });

  test("EINVAL for a baud rate of 0", () => {
    const w = uartWorld();
    expect(() => w.port.setTermios({ baud: 0, bits: 8, parity: "n", stopBits: 1 })).toThrowErrno(
      "EINVAL",
    );
  });

  const shared = uartWorld();
  fcTest.prop([fc.integer({ min: 110, max: 1_500_000 })], { numRuns: 50 })(
    "set_termios programs IBRD:FBRD = round(uartclk * 4 / baud)",
    (baud) => {
      const w = shared;
      w.port.setTermios({ baud, bits: 7, parity: "e", stopBits: 2 });
      const quot = Math.round((24_000_000 * 4) / baud);
      expect(w.reg(UART011.IBRD) * 64 + w.reg(UART011.FBRD)).toBe(quot);
      expect(w.reg(UART011.LCRH)).toBe(
        UART_LCRH.WLEN_7 | UART_LCRH.PEN | UART_LCRH.EPS | UART_LCRH.STP2 | UART_LCRH.FEN,
      );
    },
  );

  test("uart_parse_options(): <baud><parity><bits>", () => {
    expect(uartParseOptions("115200n8")).toEqual({
      baud: 115200,
      bits: 8,
      parity: "n",
      stopBits: 1,
    });
    expect(uartParseOptions("9600e7")).toMatchObject({ baud: 9600, parity: "e", bits: 7 });
  });
});

describe("uart-pl011 remove", () => {
  test("shuts the port down, frees the interrupt and disables the console", () => {
    const w = uartWorld();
    const irq = w.adev.irq[0] as number;
    w.mark();
    w.echo(`/sys/bus/amba/drivers/uart-pl011/unbind`, DEV);
    expect(w.log()).toEqual(["printk: legacy console [ttyAMA0] disabled"]);
    expect(w.interrupts()).not.toContain("uart-pl011");
    expect(w.reg(UART011.IMSC)).toBe(0);
    // pl011_disable_uart(): the transmitter stays on; DTR/RTS went down at hangup.
    expect(w.reg(UART011.CR)).toBe(UART_CR.UARTEN | UART_CR.TXE);
    expect(w.reg(UART011.LCRH) & UART_LCRH.FEN).toBe(0);
    w.sent();
    w.kernel.printk.printk(KERN_INFO, "after the console went away");
    expect(w.sent()).toBe("");
    expect(w.irq.irqInfo(irq)?.actions).toEqual([]);
  });

  test("a rebind takes ttyAMA0 again", () => {
    const w = uartWorld();
    w.echo(`/sys/bus/amba/drivers/uart-pl011/unbind`, DEV);
    w.echo(`/sys/bus/amba/drivers/uart-pl011/bind`, DEV);
    expect((w.adev.driverData as UartAmbaPort).name).toBe("ttyAMA0");
  });

  test("a port whose interrupt cannot be had still binds, with the tty closed", () => {
    const w = uartWorld();
    const irq = w.adev.irq[0] as number;
    w.echo(`/sys/bus/amba/drivers/uart-pl011/unbind`, DEV);
    w.irq.requestIrq(irq, () => IRQ_HANDLED, 0, "squatter", {});
    w.echo(`/sys/bus/amba/drivers/uart-pl011/bind`, DEV);
    const port = w.adev.driverData as UartAmbaPort;
    expect(w.adev.driver?.name).toBe("uart-pl011");
    expect(port.started).toBe(false);
    expect(w.irq.irqInfo(irq)?.actions).toEqual(["squatter"]);
  });
});
