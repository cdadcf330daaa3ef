/**
 * The workbench page's Content-Security-Policy, for both hosts: scripts only from the app itself, workers from
 * blobs (Monaco, plot cells), inline styles (Monaco and Observable Plot insert <style> elements), no plugins,
 * frames, forms or base changes. `connectSrc` is what the page may talk to: the API's origin in browser mode,
 * nothing in Electron, where the API is IPC.
 */
export function workbenchCsp(connectSrc: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src ${connectSrc.length ? connectSrc.join(' ') : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}
