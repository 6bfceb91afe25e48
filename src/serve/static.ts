/**
 * The playground (docs/SERVE.md "Playground"): a single page at `/` and its few files, shipped in
 * the package's `playground/` folder (plain HTML, JS and CSS: no build step, nothing fetched from
 * elsewhere). The page talks to the server's own `/v1/chat/completions`. Every file goes out with
 * a strict Content-Security-Policy (no inline script or style, connections to this origin only)
 * and `X-Content-Type-Options: nosniff`. The files need no API key: the page asks for one.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { HttpError } from './errors';

/** The policy of the page and its files: only this origin, media and images also from blob:/data: URLs the page makes. */
export const PLAYGROUND_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** URL path -> file of playground/ and its type. */
const ASSETS: Record<string, [string, string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/playground/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/playground/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/playground/icon.svg': ['icon.svg', 'image/svg+xml'],
};

/** Whether a path belongs to the playground (its metrics label). */
export const isPlaygroundPath = (p: string): boolean => p === '/' || p.startsWith('/playground/');

/**
 * The playground folder: `<package>/playground`, two levels above this file both in src/serve/
 * (tests) and lib/serve/ (the package).
 */
export const playgroundDir = (): string => path.resolve(__dirname, '..', '..', 'playground');

/** Sends one playground file (404 for an unknown one). */
export async function sendPlaygroundFile(req: http.IncomingMessage, res: http.ServerResponse, urlPath: string, close: boolean): Promise<void> {
  const asset = ASSETS[urlPath];
  if (!asset) throw new HttpError(404, `Unknown route ${req.method} ${urlPath}`, { code: 'not_found' });
  let body: Buffer;
  try {
    body = await fs.promises.readFile(path.join(playgroundDir(), asset[0]));
  } catch {
    throw new HttpError(404, `The playground's ${asset[0]} is missing from ${playgroundDir()} (a package without its playground/ folder)`, {
      code: 'not_found',
    });
  }
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, {
    'Content-Type': asset[1],
    'Content-Length': String(body.length),
    'Content-Security-Policy': PLAYGROUND_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
