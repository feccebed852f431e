// Every `mrc` subcommand registers itself here: one module per command, one line each.
import type { Command } from "commander";
import { registerCaps } from "./caps.js";
import { registerConformance } from "./conformance.js";
import { registerDemo } from "./demo.js";
import { registerDiff } from "./diff.js";
import { registerExtract } from "./extract.js";
import { registerInspect } from "./inspect.js";
import { registerLayout } from "./layout.js";
import { registerReceive } from "./receive.js";
import { registerReencode } from "./reencode.js";
import { registerSave } from "./save.js";
import { registerSend } from "./send.js";
import { registerVerify } from "./verify.js";

export type Register = (program: Command) => void;

export const commands: Register[] = [
  registerSave,
  registerExtract,
  registerInspect,
  registerDiff,
  registerLayout,
  registerDemo,
  registerVerify,
  registerReencode,
  registerCaps,
  registerSend,
  registerReceive,
  registerConformance,
];
