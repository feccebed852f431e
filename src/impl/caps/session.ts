// A QMP session with one QEMU 10.0.2 as a state machine: each call is answered from the rule tables and
// the state left by the calls before it (migration/options.c, migration/migration.c).

import { CAPS_RULES, PARAMS_RULES } from "./caps-rules.js";
import {
  INCOMING_POST_RULES,
  INCOMING_PRE_RULES,
  type MigrateContext,
  PREPARE_RULES,
  START_RULES,
  TRANSPORT_RULES,
} from "./migrate-rules.js";
import { type Capability, DEFAULT_PARAMS, type ModelledParams } from "./names.js";
import { type CapabilityStatus, visitCapabilities, visitParameters } from "./qapi.js";
import { firstApplying, QUIRKS } from "./rules.js";
import { SETTLE_RULES } from "./settle-rules.js";
import {
  DEFAULT_ENVIRONMENT,
  type Environment,
  type Outcome,
  type Rejected,
  type SessionState,
  type Settlement,
  UnsupportedInputError,
} from "./state.js";
import { type MigrationAddress, parseMigrationUri } from "./uri.js";

export interface SessionOptions {
  /** `source` (default): started with -S; `destination`: started with `-incoming defer` */
  role?: "source" | "destination";
  /** a source started without -S is `running` (default `prelaunch`) */
  running?: boolean;
  env?: Partial<Environment>;
}

/** Capabilities as QMP's list, or as `{name: state}`. */
export type CapabilityInput =
  | readonly { capability: string; state: boolean }[]
  | Readonly<Record<string, boolean>>;

function reject(found: { rule: { id: string; quirk?: string | undefined }; text: string }): Rejected {
  const out: Rejected = { ok: false, error: found.text, rule: found.rule.id };
  if (found.rule.quirk !== undefined) out.quirk = found.rule.quirk;
  return out;
}

const DEAD: Rejected = { ok: false, error: "QEMU is not running (it aborted)", rule: "session.dead" };

/**
 * The model of one QEMU's migration state. Methods mirror QMP commands and return QEMU's answer:
 * `{ok: true}` or `{ok: false, error, rule}`. State changes only when QEMU's would.
 */
export class MigrationSession {
  readonly env: Readonly<Environment>;
  #state: SessionState;

  constructor(options: SessionOptions = {}) {
    this.env = { ...DEFAULT_ENVIRONMENT, ...options.env };
    const destination = options.role === "destination";
    this.#state = {
      runstate: destination ? "inmigrate" : options.running === true ? "running" : "prelaunch",
      caps: new Set(),
      params: { ...DEFAULT_PARAMS },
      outgoing: "none",
      incoming: { state: "none", once: true, transportData: false },
      alive: true,
    };
  }

  get state(): Readonly<SessionState> {
    return this.#state;
  }

  /**
   * True when QMP alone cannot bring this QEMU back to its initial state (capabilities off and default
   * parameters are not enough): the runstate changed, a migration runs, migrate-incoming was used, or
   * QEMU is dead. A runner restarts QEMU then.
   */
  get needsRestart(): boolean {
    const s = this.#state;
    const initial = s.runstate === "prelaunch" || s.runstate === "inmigrate" || s.runstate === "running";
    return !s.alive || !initial || s.outgoing === "active" || s.incoming.state !== "none" || !s.incoming.once;
  }

  /** `migrate-set-capabilities` with a typed list or record. */
  setCapabilities(caps: CapabilityInput): Outcome {
    const list = Array.isArray(caps)
      ? caps
      : Object.entries(caps as Readonly<Record<string, boolean>>).map(([capability, state]) => ({
          capability,
          state,
        }));
    return this.setCapabilitiesRaw(list);
  }

  /** `migrate-set-capabilities` with the `capabilities` argument as raw JSON. */
  setCapabilitiesRaw(capabilities: unknown): Outcome {
    if (!this.#state.alive) return DEAD;
    const visited = visitCapabilities(capabilities);
    if (!Array.isArray(visited)) return { ok: false, ...visited };
    const next = applyCaps(this.#state.caps, visited);
    const found = firstApplying(CAPS_RULES, {
      old: this.#state.caps,
      next,
      state: this.#state,
      env: this.env,
    });
    if (found !== undefined) return reject(found);
    this.#state = { ...this.#state, caps: next };
    return { ok: true };
  }

  /** `migrate-set-parameters` with its arguments as JSON (QAPI member names, e.g. `multifd-channels`). */
  setParameters(params: Readonly<Record<string, unknown>>): Outcome {
    if (!this.#state.alive) return DEAD;
    const visited = visitParameters(params);
    if ("rule" in visited) return { ok: false, ...visited };
    const next: ModelledParams = { ...this.#state.params, ...visited.given };
    const found = firstApplying(PARAMS_RULES, {
      next,
      given: visited.given,
      state: this.#state,
      env: this.env,
    });
    if (found !== undefined) return reject(found);
    const setsCompressionOrTls = next["multifd-compression"] !== "none" || next["tls-creds"] !== "";
    this.#state = { ...this.#state, params: next };
    if (this.#state.caps.has("mapped-ram") && setsCompressionOrTls) {
      return { ok: true, quirk: QUIRKS.mappedRamParamsCurrent };
    }
    return visited.wrapped ? { ok: true, quirk: QUIRKS.uint64Wraps } : { ok: true };
  }

  /** `migrate` with a URI; an accepted migrate carries its `settlement`, already applied to the state. */
  migrate(uri: string): Outcome {
    if (!this.#state.alive) return DEAD;
    const addr = parseMigrationUri(uri);
    if ("rule" in addr) return { ok: false, ...addr };
    const c: MigrateContext = { addr, state: this.#state, env: this.env };
    const found = firstApplying(TRANSPORT_RULES, c) ?? firstApplying(PREPARE_RULES, c);
    if (found !== undefined) return reject(found);
    const failed = firstApplying(START_RULES, c);
    if (failed !== undefined) {
      this.#state = { ...this.#state, outgoing: "failed" };
      return reject(failed);
    }
    const settlement = settle(c);
    this.#applySettlement(settlement);
    return { ok: true, settlement };
  }

  /** `migrate-incoming` with a URI (QEMU started with `-incoming defer`). */
  migrateIncoming(uri: string): Outcome {
    if (!this.#state.alive) return DEAD;
    const pre = firstApplying(INCOMING_PRE_RULES, { addr: PLACEHOLDER, state: this.#state, env: this.env });
    if (pre !== undefined) return reject(pre);
    const addr = parseMigrationUri(uri);
    if ("rule" in addr) return { ok: false, ...addr };
    const c: MigrateContext = { addr, state: this.#state, env: this.env };
    const compat = firstApplying(TRANSPORT_RULES, c);
    if (compat !== undefined) return reject(compat);
    const post = firstApplying(INCOMING_POST_RULES, c);
    if (post !== undefined) {
      if (post.rule.id !== "incoming.illegalState") this.#setIncoming({ state: "setup" });
      return reject(post);
    }
    if (addr.transport === "rdma") {
      throw new UnsupportedInputError("migrate-incoming over rdma: is not modelled");
    }
    const listens = addr.transport === "socket" && addr.socket.type !== "fd";
    this.#setIncoming({ state: "setup", once: false, transportData: listens });
    return { ok: true };
  }

  #setIncoming(change: Partial<SessionState["incoming"]>): void {
    this.#state = { ...this.#state, incoming: { ...this.#state.incoming, ...change } };
  }

  #applySettlement(s: Settlement): void {
    const state = this.#state;
    switch (s.status) {
      case "failed":
        this.#state = { ...state, outgoing: "failed" };
        return;
      case "completed": {
        // A background snapshot resumes the VM; any other completed migration leaves it postmigrate.
        const runstate = state.caps.has("background-snapshot") ? state.runstate : "postmigrate";
        this.#state = { ...state, outgoing: "completed", runstate };
        return;
      }
      case "pre-switchover":
      case "device":
        this.#state = { ...state, outgoing: "active", runstate: "finish-migrate" };
        return;
      case "aborted":
        this.#state = { ...state, alive: false };
        return;
    }
  }
}

const PLACEHOLDER: MigrationAddress = { transport: "exec", command: "" };

function applyCaps(current: ReadonlySet<Capability>, list: readonly CapabilityStatus[]): Set<Capability> {
  const next = new Set(current);
  for (const { capability, state } of list) {
    if (state) next.add(capability);
    else next.delete(capability);
  }
  return next;
}

function settle(c: MigrateContext): Settlement {
  const rule = SETTLE_RULES.find((r) => r.applies(c));
  if (rule === undefined) throw new Error("SETTLE_RULES ends with a rule that always applies");
  const out: Settlement = { status: rule.status, rule: rule.id };
  const text = rule.format === undefined ? rule.text : rule.format(c);
  if (text !== undefined) out.error = text;
  if (rule.quirk !== undefined) out.quirk = rule.quirk;
  return out;
}
