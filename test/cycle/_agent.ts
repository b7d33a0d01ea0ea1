import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Machine } from "./_machine.js";

/**
 * The host side of the console protocol of test/cycle/guest/agent.sh (its
 * header describes the requests and replies). One request at a time: the
 * host waits for "@@READY@@", sends a request line (and its base64 payload),
 * then waits for the reply. Payloads both ways are gzip, then base64. Frames
 * from the guest are checked against their size and SHA-256 and answered ACK
 * or NAK; a frame cut by a kernel message fails the check and comes again.
 */

/** Bytes per PUT chunk, before compression: some 64 KiB of base64 at most wait in the guest's tty buffer. */
export const CHUNK = 48 * 1024;

/** A guest line for the host: `@@WORD FIELDS… UPTIME@@`. */
export interface Reply {
  readonly word: string;
  /** The text between the word and the uptime (may hold spaces). */
  readonly rest: string;
  /** The guest's /proc/uptime in seconds when it printed the line. */
  readonly uptime: number;
  /** Host milliseconds since QEMU started, when the line arrived. */
  readonly t: number;
}

const REPLY = /@@([A-Z0-9]+)(?: (.*?))? ([0-9]+\.[0-9]+)@@/;
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;

/** Reads a guest line for the host; null for any other console line. A kernel message before it on the same line is ignored. */
export function parseReply(text: string, t = 0): Reply | null {
  const m = REPLY.exec(text);
  if (m === null) return null;
  return { word: m[1] as string, rest: m[2] ?? "", uptime: Number(m[3]), t };
}

/**
 * Decodes the body lines of a frame, skipping lines that are not base64
 * (kernel messages on their own lines).
 * @returns the bytes, or why they are not the `size` bytes with SHA-256 `sha`.
 */
export function decodeFrame(lines: readonly string[], size: number, sha: string): Uint8Array | string {
  const text = lines.filter((l) => BASE64_LINE.test(l)).join("");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(gunzipSync(Buffer.from(text, "base64")));
  } catch (e) {
    return `the payload is not base64 of gzip (${(e as Error).message})`;
  }
  if (bytes.length !== size) return `${bytes.length} bytes arrived, the frame says ${size}`;
  const got = sha256(bytes);
  return got === sha ? bytes : `sha256 ${got} is not the frame's ${sha}`;
}

/**
 * Finds the first frame NAME among console lines (a whole console, as
 * guest/emulated.sh prints one without waiting for an answer) and decodes it.
 * @returns the bytes, or why there are none.
 */
export function frameIn(lines: readonly string[], name: string): Uint8Array | string {
  const begin = lines.findIndex((l) => parseReply(l)?.word === "BEGIN" && parseReply(l)?.rest.startsWith(`${name} `));
  if (begin < 0) return `no frame ${name} on the console`;
  const endRe = new RegExp(`@@END ${escapeRegExp(name)} `);
  const end = lines.findIndex((l, i) => i > begin && endRe.test(l));
  if (end < 0) return `frame ${name} has no end line`;
  const [, size, sha] = (parseReply(lines[begin] as string) as Reply).rest.split(" ");
  return decodeFrame(lines.slice(begin + 1, end), Number(size), sha ?? "");
}

/**
 * A request as the guest reads it: the line `HEAD… [LEN SHA256]`, then, with
 * a payload, LEN characters of base64 of its gzip (no newlines); SHA256 is the
 * payload's.
 */
export function encodeRequest(head: readonly (string | number)[], payload?: Uint8Array): string {
  if (payload === undefined) return `${head.join(" ")}\n`;
  const text = gzipSync(payload, { level: 9 }).toString("base64");
  return `${[...head, text.length, sha256(payload)].join(" ")}\n${text}`;
}

export interface RunResult {
  readonly status: number;
  readonly output: string;
}

export class Agent {
  constructor(private readonly m: Machine) {}

  /** Waits for the next reply whose word is one of `words`. @throws Error on an ERR reply or a timeout. */
  async reply(words: readonly string[], timeoutMs: number): Promise<Reply> {
    const re = new RegExp(`@@(?:${[...words, "ERR"].join("|")})\\b.*@@`);
    const { line } = await this.m.next(re, timeoutMs, `@@${words.join("|")}@@ from the guest`);
    const r = parseReply(line.text, line.t);
    if (r === null) throw new Error(`guest line without an uptime: ${line.text}`);
    if (r.word === "ERR" && !words.includes("ERR")) throw new Error(`guest: ${r.rest}`);
    return r;
  }

  /** Waits until the guest reads a request. */
  async ready(timeoutMs: number): Promise<Reply> {
    return this.reply(["READY"], timeoutMs);
  }

  /** Receives the frame NAME the guest sends next (up to three copies). */
  async receive(name: string, timeoutMs: number): Promise<Uint8Array> {
    let why = "";
    for (let copy = 0; copy < 3; copy++) {
      const begin = await this.reply(["BEGIN"], timeoutMs);
      const [got, size, sha] = begin.rest.split(" ");
      if (got !== name) throw new Error(`expected frame ${name}, the guest sent ${String(got)}`);
      const start = this.m.cursor;
      await this.m.next(new RegExp(`@@END ${escapeRegExp(name)} `), timeoutMs, `the end of frame ${name}`);
      const body = this.m.lines.slice(start, this.m.cursor - 1).map((l) => l.text);
      const bytes = decodeFrame(body, Number(size), sha ?? "");
      if (typeof bytes !== "string") {
        this.m.write("ACK\n");
        return bytes;
      }
      why = bytes;
      this.m.write("NAK\n");
    }
    throw new Error(`frame ${name} arrived damaged three times; last: ${why}`);
  }

  /** Writes `bytes` to the guest's PATH, in chunks of CHUNK bytes; a chunk that arrives damaged is sent again (twice at most). */
  async put(path: string, bytes: Uint8Array, timeoutMs: number): Promise<void> {
    let at = 0;
    do {
      const chunk = bytes.subarray(at, at + CHUNK);
      const request = encodeRequest(["PUT", path, at], chunk);
      for (let attempt = 1; ; attempt++) {
        await this.ready(timeoutMs);
        this.m.write(request);
        const r = await this.reply(["OK", "ERR"], timeoutMs);
        if (r.word === "OK" && r.rest === `PUT ${path} ${at + chunk.length}`) break;
        if (r.word === "OK" || !r.rest.startsWith("FETCH ") || attempt === 3) {
          throw new Error(`PUT ${path} at byte ${at}: the guest says ${r.word} ${r.rest}`);
        }
      }
      at += chunk.length;
    } while (at < bytes.length);
  }

  /** Has the guest copy its own file LOCAL to PATH after checking that its SHA-256 is `sha`. */
  async link(path: string, sha: string, local: string, timeoutMs: number): Promise<void> {
    await this.ready(timeoutMs);
    this.m.write(encodeRequest(["LINK", path, sha, local]));
    await this.reply(["OK"], timeoutMs);
  }

  /** Runs a shell script in the guest; returns its exit status and output (stdout and stderr). */
  async run(script: string, timeoutMs: number): Promise<RunResult> {
    await this.ready(timeoutMs);
    this.m.write(encodeRequest(["RUN"], new TextEncoder().encode(script)));
    const output = new TextDecoder().decode(await this.receive("output", timeoutMs));
    const exit = await this.reply(["EXIT"], timeoutMs);
    return { status: Number(exit.rest), output };
  }

  /** Starts a script that does not come back (a crash, a reboot): returns once it is sent. */
  async launch(script: string, timeoutMs: number): Promise<void> {
    await this.ready(timeoutMs);
    this.m.write(encodeRequest(["RUN"], new TextEncoder().encode(script)));
  }

  /** Fetches a guest file. */
  async get(path: string, timeoutMs: number): Promise<Uint8Array> {
    await this.ready(timeoutMs);
    this.m.write(encodeRequest(["GET", path]));
    return this.receive(path, timeoutMs);
  }
}

/** SHA-256 of `bytes`, lower-case hex (as sha256sum prints it). */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
