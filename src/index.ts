/**
 * groundinggpt - GroundingGPT (ACL 2024) for Node.js and Electron.
 * @packageDocumentation
 */
export * from './errors';
import { native } from './native';

/** Compiled backends and CPU features of the native core. */
export function systemInfo(): string {
  return native().systemInfo();
}
