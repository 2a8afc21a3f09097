// Node's http client with a keep-alive agent (one socket): requests in order, "status body" per line.
// Usage: node h1-client.js PORT PATH...
const http = require('http');
const [port, ...paths] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sockets = new Set();
(async () => {
  for (const path of paths) {
    await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        sockets.add(res.socket);
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { body += d; });
        res.on('end', () => { console.log(`${res.statusCode} ${body}`); resolve(); });
      });
      req.on('error', reject);
    });
  }
  console.log(`sockets=${sockets.size}`);
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
