/**
 * Debian's nginx (/usr/sbin/nginx, scripts/ensure-nginx.sh) started by a test: a generated
 * config in a temp dir (daemon off, pid, logs and temp paths there), listening on a loopback
 * port, with `auth_request` to a Writ forward-auth endpoint in front of one upstream — the
 * configuration docs/http-gateway.md gives operators.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.ts';
import { freePort } from '../scripts/ports.ts';
export { freePort };

export const NGINX = '/usr/sbin/nginx';

export interface NginxOptions {
  dir: string;
  /** the upstream service nginx proxies to */
  upstreamPort: number;
  /** Writ's forward-auth endpoint: port and path (e.g. `/v1/forward-auth`) */
  writPort: number;
  authPath: string;
}

export interface Nginx {
  port: number;
  url: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (nginx binds it itself; port 0 is not a listen option). */

export function nginxConfig(o: NginxOptions & { port: number }): string {
  const d = (name: string) => join(o.dir, name);
  // root (this machine) starts the workers as nobody, who must reach the temp dirs: keep them root
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
worker_processes 1;
pid ${d('nginx.pid')};
error_log ${d('error.log')} info;
events { worker_connections 256; }
http {
  access_log ${d('access.log')};
  client_body_temp_path ${d('client_body')};
  proxy_temp_path ${d('proxy')};
  fastcgi_temp_path ${d('fastcgi')};
  uwsgi_temp_path ${d('uwsgi')};
  scgi_temp_path ${d('scgi')};
  # kept-alive connections to Writ and to the service, as docs/http-gateway.md configures them
  # (without keepalive + HTTP/1.1 + an empty Connection header, every request opens new ones)
  upstream writ { server 127.0.0.1:${o.writPort}; keepalive 16; }
  upstream service { server 127.0.0.1:${o.upstreamPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${o.port};
    location / {
      auth_request /_writ;
      auth_request_set $writ $upstream_http_x_writ;
      proxy_set_header X-Writ $writ;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://service;
    }
    location = /_writ {
      internal;
      proxy_pass http://writ${o.authPath};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header Authorization $http_authorization;
    }
  }
}
`;
}

/** Starts nginx with the generated config; resolves once it answers on its port. */
export async function startNginx(o: NginxOptions): Promise<Nginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: run scripts/ensure-nginx.sh (Debian's nginx; npm test's pretest does)`);
  mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ ...o, port }));
  const errorLog = () => (existsSync(join(o.dir, 'error.log')) ? readFileSync(join(o.dir, 'error.log'), 'utf8') : '');
  // -e: the startup error log too, before the config is read (not /var/log/nginx); -p: the prefix
  const child: ChildProcess = spawn(NGINX, ['-p', o.dir, '-c', conf, '-e', join(o.dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`nginx listening on ${port}`, async () => {
    if (gone) throw new Error(`nginx exited: ${stderr} ${errorLog()}`);
    // the auth location answers without reaching anything: internal, so 404 from nginx itself
    const res = await fetch(`${url}/_writ`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.headers.get('server')?.startsWith('nginx') === true;
  });
  return {
    port,
    url,
    errorLog,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      await exited;
    },
  };
}
