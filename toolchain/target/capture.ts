import { InputError } from "../bytes/index.js";
import type { CaptureSource } from "./source.js";

/**
 * The capture format of `examples/collect-target.sh`: plain text a busybox
 * system can write with `base64` and that survives a serial console or a
 * terminal copy-paste.
 *
 * ```
 * purgatory-target-capture 1
 * ==> proc/iomem <==
 * MDAwMDAwMDAtMDNmZmZmZmYgOiAwLmZsYXNo…      (the file, base64, any line width)
 * ==> proc/kcore <==
 * f0VMRgIBAQAAAAAA…                          (only the ELF header, program headers and notes)
 * ==> end 9 <==                              (the number of files: a cut-short capture is refused)
 * ```
 * Lines before the first line and after the end line are ignored (shell
 * prompts), and so are carriage returns at line ends.
 */

export const CAPTURE_MAGIC = "purgatory-target-capture";
export const CAPTURE_VERSION = 1;

const FILE = /^==> (.*) <==$/;
const END = /^end ([0-9]+)$/;
const PATH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Parses a capture into its files.
 * @throws InputError `NOT_CAPTURE` without the first line, `BAD_CAPTURE`
 * (with `capture line N`) for a bad path, duplicate file or bad base64, and
 * `TRUNCATED` when the end line is missing or counts another number of files.
 */
export function parseCapture(text: string): Map<string, Uint8Array> {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const first = lines.findIndex((l) => l.startsWith(CAPTURE_MAGIC + " "));
  if (first < 0) {
    throw new InputError("NOT_CAPTURE", `Cannot read capture: no "${CAPTURE_MAGIC} ${CAPTURE_VERSION}" line`, "capture", "Give the output of examples/collect-target.sh.");
  }
  const version = (lines[first] as string).slice(CAPTURE_MAGIC.length + 1);
  if (version !== String(CAPTURE_VERSION)) {
    throw new InputError("BAD_CAPTURE", `Cannot read capture: format version ${JSON.stringify(version)} is not ${CAPTURE_VERSION}`, `capture line ${first + 1}`, "Use the collect-target.sh that ships with this purgatory.");
  }
  const files = new Map<string, Uint8Array>();
  let path: string | null = null;
  let body: string[] = [];
  let pathLine = 0;
  const flush = (): void => {
    if (path === null) return;
    const b64 = body.join("");
    if (b64.length % 4 !== 0 || !B64.test(b64)) {
      throw new InputError("BAD_CAPTURE", `Cannot read capture: the base64 of ${path} is malformed (${b64.length} characters, padding inside or a length not a multiple of 4)`, `capture line ${pathLine}`, "The capture was cut or edited; capture again.");
    }
    files.set(path, new Uint8Array(Buffer.from(b64, "base64")));
  };
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const at = `capture line ${i + 1}`;
    const head = FILE.exec(line);
    if (head?.[1] !== undefined) {
      flush();
      const end = END.exec(head[1]);
      if (end?.[1] !== undefined) {
        if (Number(end[1]) !== files.size) {
          throw new InputError("TRUNCATED", `Cannot read capture: the end line counts ${end[1]} files, ${files.size} were read`, at, "Part of the capture is missing; capture again.");
        }
        return files;
      }
      if (!PATH.test(head[1]) || head[1].split("/").includes("..")) {
        throw new InputError("BAD_CAPTURE", `Cannot read capture: ${JSON.stringify(head[1])} is not a relative path`, at);
      }
      if (files.has(head[1])) throw new InputError("BAD_CAPTURE", `Cannot read capture: ${head[1]} appears twice`, at, "Two captures were pasted together; keep one.");
      path = head[1];
      pathLine = i + 1;
      body = [];
    } else if (line.trim() !== "") {
      if (path === null || !B64.test(line)) {
        throw new InputError("BAD_CAPTURE", `Cannot read capture: ${JSON.stringify(line.slice(0, 40))} is neither a "==> path <==" line nor base64`, at, "The capture was edited or mixed with other output; capture again.");
      }
      body.push(line);
    }
  }
  throw new InputError("TRUNCATED", "Cannot read capture: no \"==> end N <==\" line", "capture", "The capture was cut short; capture again.");
}

/** A `CaptureSource` over the files of a parsed capture. */
export function captureSource(files: ReadonlyMap<string, Uint8Array>, label: string): CaptureSource {
  return {
    label,
    read: (path) => files.get(path) ?? null,
    readAt(path, offset, length) {
      const f = files.get(path);
      return f === undefined ? null : f.subarray(Math.min(offset, f.length), Math.min(offset + length, f.length));
    },
    list(dir) {
      const names = new Set<string>();
      for (const p of files.keys()) {
        if (p.startsWith(dir + "/")) names.add(p.slice(dir.length + 1).split("/")[0] as string);
      }
      return names.size === 0 ? null : [...names].sort();
    },
  };
}
