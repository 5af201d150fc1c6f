// A real DAP client for the dap-mode tests: DebugClient of @vscode/debugadapter-testsupport
// (what the VS Code team tests debug adapters with), driven by a script of steps.
//
//   node dap_client.js PORT < steps.json   ->   one JSON object on stdout
//
// steps: [{"op": "attach"}, {"op": "stackTrace"}, {"op": "variables", "frame": 0}, ...]
// Every step has a deadline (DebugClient has none when it talks to a port), so a session
// that never answers fails the step instead of hanging the test.  The output:
//   {"steps": [{op, ok, ...what the step found}], "error": null | "what failed", "closed": bool}
// "closed": the server closed the connection (checked at the end, after "wait_closed").
'use strict';
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const STEP_TIMEOUT = +(process.env.DAP_STEP_TIMEOUT || 20000);

let closedGate = null;  // rejects every pending step once the server has closed the connection

function within(promise, what, ms = STEP_TIMEOUT) {
  let timer;
  const racers = [
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ];
  if (closedGate) racers.push(closedGate);
  return Promise.race(racers).finally(() => clearTimeout(timer));
}

async function main() {
  const port = +process.argv[2];
  const steps = JSON.parse(require('fs').readFileSync(0, 'utf8') || '[]');
  const out = { steps: [], error: null, closed: false };
  const dc = new DebugClient('unused', 'unused', 'python');
  const events = [];  // every event, for "events"
  let closed = false;
  let closedResolve;
  const closedPromise = new Promise((resolve) => { closedResolve = resolve; });
  let threadId = null;
  let frames = null;
  let stoppedWaiter = null;
  const origEmit = dc.emit.bind(dc);
  dc.emit = (name, ...args) => { if (args[0] && args[0].type === 'event') events.push(args[0]); return origEmit(name, ...args); };

  const frameId = (step) => {
    const index = step.frame || 0;
    if (!frames || index >= frames.length) throw new Error(`no frame ${index}: run stackTrace first`);
    return frames[index].id;
  };

  try {
    await within(dc.start(port), `connect to 127.0.0.1:${port}`);
    let closedReject;
    closedGate = new Promise((_, reject) => { closedReject = reject; });
    closedGate.catch(() => {});
    dc._socket.on('close', () => { closed = true; closedResolve(); closedReject(new Error('the server closed the connection')); });
    dc._socket.on('error', () => {});
    for (const step of steps) {
      const result = { op: step.op, ok: true };
      out.steps.push(result);
      switch (step.op) {
        case 'initialize': {
          // DebugClient's initializeRequest() helper sends no clientID; this is what VS Code sends.
          const r = await within(dc.send('initialize', { clientID: 'vscode', adapterID: 'python', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsRunInTerminalRequest: false }), 'initialize');
          result.supportsConfigurationDoneRequest = !!(r.body && r.body.supportsConfigurationDoneRequest);
          break;
        }
        case 'attach': {
          // As VS Code does it: initialize, attach (its reply comes late), wait for
          // `initialized`, wait for `stopped` set up *before* configurationDone (the
          // event can beat the attach reply).
          if (!step.skipInitialize) {
            await within(dc.send('initialize', { clientID: 'vscode', adapterID: 'python', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' }), 'initialize');
          }
          const initialized = dc.waitForEvent('initialized');
          const attachReply = dc.send('attach', Object.assign({ justMyCode: false }, step.args || {}));
          attachReply.catch(() => {});
          await within(initialized, 'the initialized event');
          stoppedWaiter = dc.waitForEvent('stopped');
          await within(dc.send('configurationDone'), 'configurationDone');
          if (step.wait !== false) {
            const ev = await within(stoppedWaiter, 'the stopped event');
            stoppedWaiter = null;
            threadId = ev.body.threadId;
            result.stopped = ev.body;
          }
          result.attachReply = (await within(attachReply, 'the attach reply')).success;
          break;
        }
        case 'stopped': {  // wait for the next stop (after next/continue to a breakpoint)
          const ev = await within(stoppedWaiter || dc.waitForEvent('stopped'), 'the stopped event');
          stoppedWaiter = null;
          threadId = ev.body.threadId;
          result.stopped = ev.body;
          break;
        }
        case 'threads': {
          const r = await within(dc.send('threads'), 'threads');
          result.threads = r.body.threads;
          break;
        }
        case 'stackTrace': {
          const r = await within(dc.send('stackTrace', { threadId }), 'stackTrace');
          frames = r.body.stackFrames;
          result.frames = frames.map((f) => ({ name: f.name, line: f.line, path: f.source ? f.source.path : null }));
          break;
        }
        case 'scopes': {
          const r = await within(dc.send('scopes', { frameId: frameId(step) }), 'scopes');
          result.scopes = r.body.scopes.map((s) => s.name);
          break;
        }
        case 'variables': {  // the frame's first scope (Locals), as name -> value
          const scopes = await within(dc.send('scopes', { frameId: frameId(step) }), 'scopes');
          const scope = scopes.body.scopes[step.scope || 0];
          const r = await within(dc.send('variables', { variablesReference: scope.variablesReference }), 'variables');
          result.scope = scope.name;
          result.variables = Object.fromEntries(r.body.variables.map((v) => [v.name, v.value]));
          break;
        }
        case 'evaluate': {
          const r = await within(dc.send('evaluate', { expression: step.expression, frameId: frameId(step), context: step.context || 'repl' }), 'evaluate');
          result.result = r.body.result;
          break;
        }
        case 'exceptionInfo': {
          const r = await within(dc.send('exceptionInfo', { threadId }), 'exceptionInfo');
          result.exceptionId = r.body.exceptionId;
          result.description = r.body.description;
          result.stackTrace = r.body.details ? r.body.details.stackTrace : null;
          break;
        }
        case 'next':
        case 'continue': {
          stoppedWaiter = step.op === 'next' ? dc.waitForEvent('stopped') : null;
          await within(dc.send(step.op, { threadId }), step.op);
          break;
        }
        case 'disconnect': {
          await within(dc.send('disconnect', step.args || {}), 'disconnect');
          break;
        }
        case 'wait_closed': {  // the server ends the connection (the session is over)
          const gate = closedGate;
          closedGate = null;
          try {
            await within(closedPromise, 'the server closing the connection', step.timeout || STEP_TIMEOUT);
          } finally {
            closedGate = gate;
          }
          break;
        }
        case 'sleep': {
          await new Promise((resolve) => setTimeout(resolve, step.ms || 100));
          break;
        }
        case 'drop': {  // vanish without a word, as a killed IDE does
          dc._socket.destroy();
          break;
        }
        default:
          throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
    }
  } catch (error) {
    out.error = String(error && error.message ? error.message : error);
    if (out.steps.length) out.steps[out.steps.length - 1].ok = false;
  }
  out.closed = closed;
  out.events = events.map((e) => e.event);
  process.stdout.write(JSON.stringify(out) + '\n');
  try { dc._socket && dc._socket.destroy(); } catch (e) { /* gone already */ }
  process.exit(0);
}

main();
