/**
 * dev_err_probe() (drivers/base/core.c): how a probe path reports the error it returns. A
 * deferral is only remembered as the device's deferred-probe reason (and logged at debug
 * level); -ENOMEM prints nothing; anything else prints `error <%pe>: <message>` with
 * dev_err().
 */

import { errnoName, SysError } from "../errno.js";
import type { Device } from "./device.js";

/**
 * lib/vsprintf.c: `%pe` of ERR_PTR(err) — `-ENXIO` with CONFIG_SYMBOLIC_ERRNAME, else the
 * number (`-6`).
 */
export function formatErrPtr(err: number, symbolic: boolean): string {
  const name = symbolic ? errnoName(err) : undefined;
  return name ? `-${name}` : String(err);
}

/**
 * drivers/base/core.c: dev_err_probe() — logs as Linux does and returns the SysError to throw
 * (`fn` names the function that failed).
 */
export function devErrProbe(dev: Device, err: number, message: string, fn: string): SysError {
  const pe = formatErrPtr(err, dev.ctx.symbolicErrname);
  const code = errnoName(err);
  if (code === "EPROBE_DEFER") {
    dev.ctx.setDeferredProbeReason(dev, message);
    dev.log.dbg(`error ${pe}: ${message}`);
  } else if (code !== "ENOMEM") {
    dev.log.err(`error ${pe}: ${message}`);
  }
  return code ? new SysError(code, fn, message) : new SysError("EINVAL", fn, message);
}
