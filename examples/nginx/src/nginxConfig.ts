/**
 * The two placeholders of `switchyard.conf` and what replaces them: nginx has no variables in `listen`
 * or in an upstream's `server`, so the file is rendered before nginx reads it (as the nginx Docker
 * image does with its `*.conf.template` files).
 */
export interface SiteAddresses {
  /** nginx's `listen`: `443 ssl` in production, `127.0.0.1:8080` here. */
  readonly listen: string
  /** The app's `host:port`, as the upstream's `server`: `127.0.0.1:3000`. */
  readonly upstream: string
}

// #region render
/**
 * `switchyard.conf` with `${LISTEN}` and `${UPSTREAM}` replaced; nothing else changes (nginx's own
 * variables are written `$name`, without braces, so they are left alone).
 *
 * @example renderSite(readFileSync("switchyard.conf", "utf8"), { listen: "443 ssl", upstream: "127.0.0.1:3000" })
 */
export function renderSite(template: string, addresses: SiteAddresses): string {
  const values: Record<string, string> = { LISTEN: addresses.listen, UPSTREAM: addresses.upstream }
  return template.replace(/\$\{(\w+)\}/g, (placeholder, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`switchyard.conf: ${placeholder} is not a placeholder renderSite knows`)
    return value
  })
}
// #endregion render

/**
 * A whole nginx configuration around the site file, for running nginx as an ordinary process: in the
 * foreground, every file it writes (pid, log, temporary bodies) inside `dir`. A packaged nginx has its own
 * `/etc/nginx/nginx.conf` for this part and includes the site file from its `http` block the same way.
 */
export function mainConfig(dir: string, sitePath: string): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${sitePath};
}
`
}
