/**
 * The client side of `writ mcp` over stdio, reading each line as I-JSON (docs/json.md).
 * The SDK's StdioServerTransport reads lines with JSON.parse, which has rounded
 * 9007199254740993 to …992 before the governor could see it. Here a line that is JSON
 * but not I-JSON is still delivered, marked with its violation (`violationOf`), so the
 * governor refuses — and records — the call it carries instead of forwarding it; a line
 * that is not a JSON-RPC message is an error, as in the SDK. Otherwise it behaves as
 * the SDK's transport: newline-delimited messages, at most 10 MiB buffered.
 */
import process from 'node:process';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { IJsonError, parseIJson } from '../../writ/i-json.ts';

const MAX_BUFFER_BYTES = 10 * 1024 * 1024;

/** why the I-JSON rule refused a message, for messages this transport delivered */
const violations = new WeakMap<JSONRPCMessage, string>();

/** The I-JSON violation of a message read by an IJsonStdioServerTransport, if any. */
export function violationOf(message: JSONRPCMessage): string | undefined {
  return violations.get(message);
}

/** One line as a JSON-RPC message, with its I-JSON violation if it has one. Throws if it is no JSON-RPC message. */
export function readMessage(line: string): { message: JSONRPCMessage; violation?: string } {
  let value: unknown;
  let violation: string | undefined;
  try {
    value = parseIJson(line);
  } catch (err) {
    if (!(err instanceof IJsonError)) throw err;
    value = err.value; // only to answer or record the refusal: what the message asks is not acted on
    violation = err.message;
  }
  const message = JSONRPCMessageSchema.parse(value);
  return violation === undefined ? { message } : { message, violation };
}

export class IJsonStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  private buffer: Buffer | null = null;
  private started = false;
  private readonly stdin: Readable;
  private readonly stdout: Writable;

  constructor(stdin: Readable = process.stdin, stdout: Writable = process.stdout) {
    this.stdin = stdin;
    this.stdout = stdout;
  }

  private readonly ondata = (chunk: Buffer) => {
    if ((this.buffer?.length ?? 0) + chunk.length > MAX_BUFFER_BYTES) {
      this.buffer = null;
      this.onerror?.(new Error(`a message from the client exceeds ${MAX_BUFFER_BYTES} bytes`));
      void this.close();
      return;
    }
    this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const buffer: Buffer | null = this.buffer; // null once a handler closed the transport
      const end = buffer === null ? -1 : buffer.indexOf(0x0a);
      if (buffer === null || end < 0) return;
      const line = buffer.toString('utf8', 0, end).replace(/\r$/, '');
      this.buffer = buffer.subarray(end + 1);
      let read: ReturnType<typeof readMessage>;
      try {
        read = readMessage(line);
      } catch (err) {
        this.onerror?.(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (read.violation !== undefined) violations.set(read.message, read.violation);
      this.onmessage?.(read.message);
    }
  };

  private readonly onstreamerror = (err: Error) => this.onerror?.(err);

  async start(): Promise<void> {
    if (this.started) throw new Error('the stdio transport is already started');
    this.started = true;
    this.stdin.on('data', this.ondata);
    this.stdin.on('error', this.onstreamerror);
  }

  async close(): Promise<void> {
    this.stdin.off('data', this.ondata);
    this.stdin.off('error', this.onstreamerror);
    if (this.stdin.listenerCount('data') === 0) this.stdin.pause();
    this.buffer = null;
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }
}
