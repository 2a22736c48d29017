// The Socket.IO link: commands with acknowledgements, and a tab that rejoins after a
// reconnect (the server answers every hello with the program and a snapshot). `greeting()` says who we
// are: a solo workspace, or a classroom as instructor or student.

export function connect({greeting, onWelcome, onSnapshot, onEvents, onStatus, on = {}}) {
  const socket = window.io({transports: ["websocket"]});
  const hello = () => {
    const payload = greeting();
    if (!payload) { onStatus("waiting to join"); return; }
    socket.emit("hello", payload, (ack) => {
      if (ack && ack.ok) {
        onWelcome(ack);
        onStatus("connected");
      } else {
        onStatus("refused: " + (ack ? ack.error.message : "no answer"));
        onWelcome(ack || {ok: false, error: {message: "no answer"}});
      }
    });
  };
  socket.on("connect", hello);
  socket.on("disconnect", () => onStatus("disconnected — reconnecting…"));
  // a refused WebSocket's answer cannot be read here: the server says why on /tabs
  socket.on("connect_error", async () => {
    let why = null;
    try {
      const answer = await (await fetch("/tabs", {cache: "no-store"})).json();
      why = answer.ok ? null : answer.why;
    } catch { /* the server itself is unreachable */ }
    onStatus(why ? `the server cannot take this tab now: ${why} — retrying…`
      : "cannot reach the server — retrying…");
  });
  // snapshots name their program (source, listing, labels), sent apart once per program;
  // the page draws them joined. A snapshot of a program not got (yet) asks for it; one
  // overtaken by a newer snapshot meanwhile is dropped.
  let program = null;
  let latest = 0;
  socket.on("program", (p) => { program = p; });
  socket.on("snapshot", async (snap) => {
    const mine = ++latest;
    if (!program || program.id !== snap.program) {
      const got = await send("program");
      if (mine !== latest || !got.ok || got.id !== snap.program) return;
      program = got;
    }
    onSnapshot({...snap, source: program.source, listing: program.listing,
                symbols: program.symbols});
  });
  socket.on("events", onEvents);
  for (const [name, fn] of Object.entries(on)) socket.on(name, fn);

  function send(command, payload = {}) {
    return new Promise((resolve) => {
      if (!socket.connected) {
        resolve({ok: false, error: {message: "not connected to the server", line: null}});
        return;
      }
      socket.timeout(60000).emit(command, payload, (err, ack) => {
        resolve(err ? {ok: false, error: {message: `no answer to '${command}'`, line: null}} : ack);
      });
    });
  }
  return {send, socket, hello};
}
