// The Socket.IO link: commands with acknowledgements, and a tab that rejoins its
// workspace after a reconnect (the server answers every hello with a snapshot).

const KEY = "kmemvisor.workspace";

export function connect({onSnapshot, onEvent, onStatus}) {
  const socket = window.io({transports: ["websocket"]});
  const hello = () => {
    const workspace = sessionStorage.getItem(KEY) || undefined;
    socket.emit("hello", workspace ? {workspace} : {}, (ack) => {
      if (ack && ack.ok) {
        sessionStorage.setItem(KEY, ack.workspace);
        onStatus("connected");
      } else {
        onStatus("refused: " + (ack ? ack.error.message : "no answer"));
      }
    });
  };
  socket.on("connect", hello);
  socket.on("disconnect", () => onStatus("disconnected — reconnecting…"));
  socket.on("snapshot", onSnapshot);
  socket.on("event", onEvent);

  function send(command, payload = {}) {
    return new Promise((resolve) => {
      if (!socket.connected) {
        resolve({ok: false, error: {message: "not connected to the server", line: null}});
        return;
      }
      socket.timeout(30000).emit(command, payload, (err, ack) => {
        resolve(err ? {ok: false, error: {message: `no answer to '${command}'`, line: null}} : ack);
      });
    });
  }
  return {send, socket};
}
