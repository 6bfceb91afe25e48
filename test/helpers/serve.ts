// Helpers of the server tests (test/serve*.test.ts): a server on 127.0.0.1 port 0, raw HTTP
// requests, server-sent events and Prometheus text read back.
import fs from 'node:fs';
import http from 'node:http';
import type { Model } from '../../src/model';
import { createServer, type GroundingServer, type ServerOptions } from '../../src/index';

export interface Running {
  url: string;
  server: GroundingServer;
}

/** A server on an ephemeral port of 127.0.0.1, closed at the end of the test. */
export async function startServer(t: { teardown(fn: () => unknown): void }, model: Model | Promise<Model>, options: ServerOptions = {}): Promise<Running> {
  const server = createServer(model, options);
  const addr = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close({ timeoutMs: 0 }));
  return { url: addr.url, server };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are read as they come
  json: any;
}

/** A raw HTTP request with node:http (no client library in between). */
export function request(url: string, method: string, body?: string | Buffer | object, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request(url, { method, headers: { ...(data !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export const post = (url: string, body: string | Buffer | object, headers?: Record<string, string>) => request(url, 'POST', body, headers);
export const get = (url: string, headers?: Record<string, string>) => request(url, 'GET', undefined, headers);

/** The `data:` payloads of an event stream, parsed (`[DONE]` kept as the string). */
export function events(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => {
      const d = e.slice(6);
      return d === '[DONE]' ? d : JSON.parse(d);
    });
}

/** A file as a data: URL. */
export function dataUrl(file: string, mime: string): string {
  return `data:${mime};base64,${fs.readFileSync(file).toString('base64')}`;
}

/** The value of one sample of the Prometheus text (`name` with its label text, e.g. `x{a="b"}`); undefined when absent. */
export function metric(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/**
 * A streamed chat completion held open: resolves once the first content chunk arrived, with the
 * request (to destroy) and everything received so far.
 */
export function openStream(
  url: string,
  body: object,
  headers: Record<string, string> = {},
): Promise<{ req: http.ClientRequest; received: () => string; ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let resolveEnd: (status: number) => void = () => undefined;
    const ended = new Promise<number>((r) => (resolveEnd = r));
    const req = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let started = false;
      res.on('data', (c: Buffer) => {
        text += c.toString('utf8');
        const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
        // biome-ignore lint/suspicious/noExplicitAny: chunks are read as they come
        if (!started && events(complete).some((e: any) => e?.choices?.[0]?.delta?.content)) {
          started = true;
          resolve({ req, received: () => text, ended });
        }
      });
      res.on('end', () => resolveEnd(res.statusCode ?? 0));
      res.on('error', () => resolveEnd(-1));
      res.on('close', () => resolveEnd(-1));
      if (res.statusCode !== 200) {
        res.on('end', () => reject(new Error(`status ${res.statusCode}: ${text}`)));
      }
    });
    req.on('error', () => resolveEnd(-1));
    req.end(JSON.stringify({ ...body, stream: true }));
  });
}
