// ace-app: the example add-on of runbook's lean-hosting recipe.
//   GET /             the app's name and version (APP_VERSION, else the VERSION file, else package.json)
//   GET /healthcheck  200 when a query against PostgreSQL (DATABASE_URL) succeeds, else 503
'use strict';

const http = require('node:http');
const { Pool } = require('pg');
const pkg = require('./package.json');

const name = process.env.APP_NAME || pkg.name;
// The release playbook writes VERSION into the tree it packs.
let fileVersion = null;
try {
  fileVersion = require('node:fs').readFileSync(require('node:path').join(__dirname, 'VERSION'), 'utf8').trim();
} catch (_) {}
const version = process.env.APP_VERSION || fileVersion || pkg.version;
const port = Number(process.env.PORT || 3000);
const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 4,
  connectionTimeoutMillis: 2000,
  idleTimeoutMillis: 10000,
});
// An idle client that loses its server must not crash the app.
pool.on('error', (err) => console.error('database pool:', err.message));

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

const server = http.createServer(async (req, res) => {
  const path = req.url.split('?')[0];
  if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
  if (path === '/') return send(res, 200, { app: name, version });
  if (path === '/healthcheck') {
    try {
      const r = await pool.query('SELECT 1 AS ok');
      return send(res, 200, { status: 'ok', version, database: r.rows[0].ok === 1 ? 'ok' : 'unexpected' });
    } catch (err) {
      return send(res, 503, { status: 'unhealthy', version, database: err.message });
    }
  }
  send(res, 404, { error: 'not found' });
});

server.listen(port, () => console.log(`${name} ${version} listening on ${port}`));

// pm2 stops and reloads with SIGINT; close the server and the pool, then exit.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => pool.end().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
