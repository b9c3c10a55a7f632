/**
 * What the soak's users do, as node scripts run inside the natlab's namespaces: two clients
 * that stream through the forwards (one straight into -L, one through -D's SOCKS5) and check
 * every echoed line comes back in order, a small HTTP server that -R serves, and an echo
 * server on the far side. Each client reports a JSON line every 250 ms. A client whose
 * connection breaks (without the keeper a drop is a reset) counts the error and reconnects
 * after a second, as a streaming application would.
 */

/** In the server namespace: a line echo on `echoPort`. */
export const echoServerSource = (echoPort: number) => `
require('net').createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(${echoPort}, '127.0.0.1', () => console.log('ready'));`;

/** In the client namespace: the -R target (answers `body`), then both streaming clients. */
export const clientsSource = (o: { localPort: number; socksPort: number; echoPort: number; remoteTargetPort: number; body: string }) => `
const net = require('net');
require('http').createServer((req, res) => res.end(${JSON.stringify(o.body)})).listen(${o.remoteTargetPort}, '127.0.0.1');

function socks5(port, host, targetPort, cb) {
  const s = net.connect(port, '127.0.0.1');
  let stage = 0, buf = Buffer.alloc(0);
  s.on('connect', () => s.write(Buffer.from([5, 1, 0])));
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    if (stage === 0 && buf.length >= 2) {
      buf = buf.subarray(2); stage = 1;
      const h = Buffer.from(host);
      s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, h.length]), h, Buffer.from([targetPort >> 8, targetPort & 255])]));
    }
    if (stage === 1 && buf.length >= 10) {
      s.off('data', onData);
      if (buf[1] !== 0) { s.destroy(new Error('socks reply ' + buf[1])); return; }
      const rest = buf.subarray(10);
      cb(s);
      if (rest.length) s.emit('data', rest);
    }
  };
  s.on('data', onData);
  return s;
}

function stream(name, open) {
  const st = { stream: name, sent: 0, echoed: 0, errors: 0, outOfOrder: 0, lastError: null };
  let socket, next = 0, sentHere = 0, pending = '';
  const start = () => {
    next = 0; sentHere = 0; pending = '';
    const s = open((ready) => {
      socket = ready;
      ready.on('data', (d) => {
        pending += d;
        let i;
        while ((i = pending.indexOf('\\n')) >= 0) {
          const line = pending.slice(0, i); pending = pending.slice(i + 1);
          if (line !== 'n=' + next) st.outOfOrder++;
          next++; st.echoed++;
        }
      });
    });
    s.on('error', (e) => { st.lastError = e.code || e.message; });
    s.on('close', () => { socket = undefined; st.errors++; setTimeout(start, 1000); });
  };
  start();
  setInterval(() => { if (socket && socket.writable) { socket.write('n=' + sentHere++ + '\\n'); st.sent++; } }, 100);
  setInterval(() => console.log(JSON.stringify(st)), 250);
}

stream('L', (cb) => { const s = net.connect(${o.localPort}, '127.0.0.1'); s.on('connect', () => cb(s)); return s; });
stream('D', (cb) => socks5(${o.socksPort}, '127.0.0.1', ${o.echoPort}, cb));
`;
