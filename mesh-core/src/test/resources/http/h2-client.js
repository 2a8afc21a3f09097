// Node's http2 client: several requests on one connection, printing "status body" per line in order (a stream the
// server reset: "reset MESSAGE").
// Usage: node h2-client.js PORT REQUEST... [WAIT_END] where a REQUEST is a path, "METHOD path", or a JSON object
// sent as the header block as it is (Node fills in :method and :scheme, and :authority only when neither
// :authority nor host is given).
const http2 = require('http2');
const [port, ...args] = process.argv.slice(2);
const waitEnd = args[args.length - 1] === 'WAIT_END';
const paths = waitEnd ? args.slice(0, -1) : args;
const session = http2.connect(`http://127.0.0.1:${port}`);
// WAIT_END as the last argument: the server ends the connection, and the client waits for that instead of closing.
if (waitEnd) session.on('close', () => console.log('session closed'));
(async () => {
  for (const p of paths) {
    const raw = p.startsWith('{') ? JSON.parse(p) : null;
    const [method, path] = raw ? [raw[':method'] || 'GET', raw[':path']] : p.includes(' ') ? p.split(' ') : ['GET', p];
    await new Promise((resolve, reject) => {
      const req = session.request(raw || { ':method': method, ':path': path });
      let status, body = '';
      req.on('response', (h) => { status = h[':status']; });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => { console.log(`${status} ${body}`); resolve(); });
      // A stream reset is one request's answer; any other error ends the client.
      req.on('error', (e) => {
        if (e.code === 'ERR_HTTP2_STREAM_ERROR') { console.log(`reset ${e.message}`); resolve(); } else { reject(e); }
      });
      req.end(method === 'POST' ? 'x'.repeat(100000) : undefined);
    });
  }
  if (!waitEnd) session.close();
})().catch((e) => { console.error(e); process.exit(1); });
