// `mrc caps`: would QEMU 10.0.2 accept these capabilities, parameters and this URI, and if not, with
// which exact error? Answered by the model in src/impl/caps, without QEMU.
import type { Command } from "commander";
import {
  CAPS_RULES,
  INCOMING_POST_RULES,
  INCOMING_PRE_RULES,
  MigrationSession,
  type Outcome,
  PARAMS_RULES,
  PREPARE_RULES,
  QAPI_RULES,
  SETTLE_RULES,
  START_RULES,
  TRANSPORT_RULES,
  UnsupportedInputError,
  URI_RULES,
} from "../../impl/caps/index.js";
import { collectPair, EXIT_INVALID, EXIT_OK, UsageError } from "../common.js";

export interface CapsFlags {
  on: string[];
  param: Array<[string, string]>;
  uri?: string;
  incoming?: boolean;
  json?: boolean;
  rules?: boolean;
}

type Call = "migrate-set-capabilities" | "migrate-set-parameters" | "migrate" | "migrate-incoming";

interface StepReport {
  call: Call;
  args: Record<string, unknown>;
  outcome: Outcome;
}

/** `--on a,b --on c` → `["a", "b", "c"]`. */
export function collectCaps(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(",")];
}

/**
 * A `--param` value as QMP JSON: a whole number (exact, as bigint beyond 2^53), `true`/`false`/`null`, any
 * other JSON literal (`2.5`, `"2"`), and otherwise the text as a string (`zlib`, `tls0`, the empty string).
 */
export function parseParamValue(text: string): unknown {
  if (/^-?[0-9]+$/.test(text)) {
    const n = BigInt(text);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}

/** The calls `mrc caps` makes: capabilities, then parameters, then migrate or migrate-incoming. */
function plan(flags: CapsFlags): Array<Omit<StepReport, "outcome">> {
  const calls: Array<Omit<StepReport, "outcome">> = [];
  if (flags.on.length > 0) {
    const capabilities = flags.on.map((capability) => ({ capability, state: true }));
    calls.push({ call: "migrate-set-capabilities", args: { capabilities } });
  }
  if (flags.param.length > 0) {
    const args: Record<string, unknown> = {};
    for (const [name, value] of flags.param) {
      if (Object.hasOwn(args, name)) throw new UsageError(`--param ${name}= is given twice`);
      args[name] = parseParamValue(value);
    }
    calls.push({ call: "migrate-set-parameters", args });
  }
  if (flags.uri !== undefined) {
    calls.push({ call: flags.incoming === true ? "migrate-incoming" : "migrate", args: { uri: flags.uri } });
  }
  return calls;
}

function runCall(session: MigrationSession, call: Omit<StepReport, "outcome">): Outcome {
  switch (call.call) {
    case "migrate-set-capabilities":
      return session.setCapabilitiesRaw(call.args.capabilities);
    case "migrate-set-parameters":
      return session.setParameters(call.args);
    case "migrate":
      return session.migrate(String(call.args.uri));
    case "migrate-incoming":
      return session.migrateIncoming(String(call.args.uri));
  }
}

/** Every rule of the model, one per line: `id<TAB>source<TAB>when<TAB>text`. */
export function ruleTable(): string[] {
  const rows: Array<{ id: string; source: string; when: string; text?: string }> = [
    ...QAPI_RULES,
    ...CAPS_RULES,
    ...PARAMS_RULES,
    ...INCOMING_PRE_RULES,
    ...URI_RULES,
    ...TRANSPORT_RULES,
    ...PREPARE_RULES,
    ...START_RULES,
    ...INCOMING_POST_RULES,
    ...SETTLE_RULES,
  ];
  return rows.map((r) => [r.id, r.source, r.when, r.text ?? "(no text)"].join("\t"));
}

/** Runs the sequence on the model and writes the answer. Returns 0 accepted, 1 refused; throws UsageError. */
export function runCaps(flags: CapsFlags, write: (s: string) => void): number {
  if (flags.rules === true) {
    for (const line of ruleTable()) write(`${line}\n`);
    return EXIT_OK;
  }
  const session = new MigrationSession({ role: flags.incoming === true ? "destination" : "source" });
  const steps: StepReport[] = [];
  try {
    for (const call of plan(flags)) {
      const outcome = runCall(session, call);
      steps.push({ ...call, outcome });
      if (!outcome.ok) break;
    }
  } catch (e) {
    if (e instanceof UnsupportedInputError) throw new UsageError(`not modelled: ${e.message}`);
    throw e;
  }
  const last = steps[steps.length - 1];
  const failed = last !== undefined && !last.outcome.ok ? last : undefined;
  const quirks = [...new Set(steps.flatMap((s) => (s.outcome.quirk === undefined ? [] : [s.outcome.quirk])))];
  const settlement = last?.outcome.ok === true ? last.outcome.settlement : undefined;
  if (flags.json === true) {
    const result: Record<string, unknown> = { result: failed === undefined ? "accepted" : "error" };
    if (failed !== undefined && !failed.outcome.ok) {
      Object.assign(result, { error: failed.outcome.error, rule: failed.outcome.rule, call: failed.call });
    }
    if (settlement !== undefined) result.settlement = settlement;
    result.quirks = quirks;
    result.steps = jsonSafe(steps);
    write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    if (failed !== undefined && !failed.outcome.ok) {
      write(`error: ${failed.outcome.error}\n`);
      write(`rule: ${failed.outcome.rule} (${failed.call})\n`);
    } else {
      write("accepted\n");
    }
    if (settlement !== undefined) {
      const err = settlement.error === undefined ? "" : `: ${settlement.error}`;
      write(`then: ${settlement.status}${err} (${settlement.rule})\n`);
    }
    for (const quirk of quirks) write(`quirk: ${quirk}\n`);
    if (settlement?.quirk !== undefined && !quirks.includes(settlement.quirk)) {
      write(`quirk: ${settlement.quirk}\n`);
    }
  }
  return failed === undefined ? EXIT_OK : EXIT_INVALID;
}

export function registerCaps(program: Command): void {
  program
    .command("caps")
    .description(
      "would QEMU 10.0.2 accept these migration capabilities, parameters and URI (mapped-ram, multifd)? " +
        "answered by the model, without QEMU",
    )
    .option(
      "--on <CAP,...>",
      "capabilities to turn on, in one migrate-set-capabilities (repeatable)",
      collectCaps,
      [],
    )
    .option(
      "--param <NAME=VALUE>",
      "a migrate-set-parameters member; VALUE is JSON when it parses (2, true, null), else a string (repeatable)",
      collectPair,
      [],
    )
    .option("--uri <URI>", "then migrate (or migrate-incoming) to this URI, e.g. file:/tmp/vm,offset=0x1000")
    .option("--incoming", "a destination (-incoming defer): the URI goes to migrate-incoming")
    .option("--json", "the answer and every call's outcome as JSON")
    .option("--rules", "print the model's rule table (id, QEMU source, condition, text) and exit")
    .addHelpText(
      "after",
      "\nThe calls run in this order: capabilities, parameters, then migrate/migrate-incoming; the first\n" +
        "refused call ends the sequence. Output: `accepted` or `error: <QEMU's exact text>`, then `rule:`,\n" +
        "`then:` (what an accepted migrate does next) and `quirk:` lines.\n" +
        "Exit status: 0 accepted, 1 refused, 2 usage error or input the model does not cover." +
        "\n\nExamples:\n  mrc caps --on mapped-ram,multifd --param multifd-channels=4 --uri file:/tmp/vm\n" +
        "  mrc caps --on mapped-ram --param multifd-compression=zlib --uri file:/tmp/vm",
    )
    .action((flags: CapsFlags) => {
      process.exitCode = runCaps(flags, (s) => process.stdout.write(s));
    });
}
