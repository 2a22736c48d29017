// Fan-out load for `kmemvisor bench fanout`: one instructor and N students, all real
// Socket.IO clients (the browser's own client library) in this one process. For each
// instructor step: the time from the command until the *last* student has the event.
// Usage: node fanout.js URL CODE KEY STUDENTS STEPS  -> one JSON line on stdout.
const path = require("path");
const {io} = require(path.join(__dirname, "..", "..", "node_modules", "socket.io-client"));

const [url, code, key, nStudents, nSteps] = process.argv.slice(2);
const STUDENTS = Number(nStudents);
const STEPS = Number(nSteps);
const WARMUP = 10;

function client(hello) {
  return new Promise((resolve, reject) => {
    const s = io(url, {transports: ["websocket"], forceNew: true, reconnection: false});
    s.on("connect_error", reject);
    s.on("connect", async () => {
      const ack = await s.emitWithAck("hello", hello);
      if (!ack.ok) reject(new Error(JSON.stringify(ack)));
      else resolve(s);
    });
  });
}

(async () => {
  const teacher = await client({classroom: code, key});
  const students = [];
  for (let i = 0; i < STUDENTS; i++) {
    students.push(await client({classroom: code, name: `student ${i}`}));
  }
  let pending = 0;
  let done = null;
  for (const s of students) {
    s.on("events", () => {
      pending -= 1;
      if (pending === 0 && done) done(performance.now());
    });
  }
  const times = [];
  for (let i = 0; i < WARMUP + STEPS; i++) {
    pending = STUDENTS;
    const arrived = new Promise((resolve) => { done = resolve; });
    const t0 = performance.now();
    const ack = await teacher.emitWithAck("step", {});
    if (!ack.ok) { console.error(JSON.stringify(ack)); process.exit(1); }
    const t1 = await arrived;
    if (i >= WARMUP) times.push(t1 - t0);
  }
  times.sort((a, b) => a - b);
  const pct = (p) => times[Math.min(times.length - 1, Math.round(p / 100 * (times.length - 1)))];
  console.log(JSON.stringify({students: STUDENTS, steps: STEPS, p50_ms: pct(50), p95_ms: pct(95),
                              max_ms: times[times.length - 1]}));
  for (const s of [teacher, ...students]) s.disconnect();
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
