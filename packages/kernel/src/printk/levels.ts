/**
 * Log levels (include/linux/kern_levels.h, include/linux/printk.h): the eight syslog levels a
 * record carries, and the in-band `KERN_SOH` marker that can carry one inside the text.
 *
 * @packageDocumentation
 */

export const KERN_EMERG = 0;
export const KERN_ALERT = 1;
export const KERN_CRIT = 2;
export const KERN_ERR = 3;
export const KERN_WARNING = 4;
export const KERN_NOTICE = 5;
export const KERN_INFO = 6;
export const KERN_DEBUG = 7;
/** `LOGLEVEL_DEFAULT`: "no level given". */
export const LOGLEVEL_DEFAULT = -1;
/** CONFIG_MESSAGE_LOGLEVEL_DEFAULT: the level of a message that names none. */
export const MESSAGE_LOGLEVEL_DEFAULT = KERN_WARNING;

/** `KERN_SOH`, the byte that starts an in-band level marker (`KERN_SOH "3"` is KERN_ERR). */
export const KERN_SOH = "\x01";

/** The level names, indexed by level. */
export const KERN_LEVEL_NAMES = [
  "KERN_EMERG",
  "KERN_ALERT",
  "KERN_CRIT",
  "KERN_ERR",
  "KERN_WARNING",
  "KERN_NOTICE",
  "KERN_INFO",
  "KERN_DEBUG",
] as const;

export type LogLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Syslog facilities used by the log (include/linux/syslog.h numbering). */
export const LOG_KERN = 0;
export const LOG_USER = 1;
