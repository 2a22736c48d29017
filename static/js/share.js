// Share and export: a short link to a copy of the session, a read-only embed of it,
// the session's recipe and trace as files (app/contracts/recipe.json), and an upload.

const MAX_UPLOAD = 1 << 20;  // what the server takes in one message

function download(name, doc) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], {type: "application/json"}));
  const a = Object.assign(document.createElement("a"), {href: url, download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function copy(input) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    return document.execCommand("copy");  // a page served over plain http to a LAN
  }
}

// what the sharer looks at, as the link's fragment: the VM whose memory and page tables
// are shown, and the word gone to (the session itself is the server's copy)
function fragment(view) {
  const where = new URLSearchParams(Object.entries(view()).filter(([, v]) => v !== null && v !== undefined));
  return where.size ? `#${where}` : "";
}

export function createSharePanel(el, {send, view}) {
  const say = (text) => { el.status.textContent = text; };

  el.toggle.addEventListener("click", () => {
    el.box.hidden = !el.box.hidden;
    el.toggle.setAttribute("aria-expanded", String(!el.box.hidden));
    if (!el.box.hidden) el.makeLink.focus();
  });
  el.makeLink.addEventListener("click", async () => {
    say("making a link…");
    const ack = await send("share");
    if (!ack.ok) { say(`no link: ${ack.error.message}`); return; }
    const at = fragment(view);
    el.link.value = location.origin + ack.link + at;
    el.embed.value = `<iframe src="${location.origin}${ack.embed}${at}" width="1280" height="720" ` +
      `title="kMemvisor Lab: a shared session" loading="lazy"></iframe>`;
    el.links.hidden = false;
    el.link.focus();
    el.link.select();
    say("link made: anyone with it opens a copy of this session at this step, as you see it");
  });
  el.copyLink.addEventListener("click", async () => say(await copy(el.link) ? "link copied" : "select the link and copy it"));
  el.copyEmbed.addEventListener("click", async () => say(await copy(el.embed) ? "embed code copied" : "select the code and copy it"));
  for (const [button, what] of [[el.recipe, "recipe"], [el.trace, "trace"]]) {
    button.addEventListener("click", async () => {
      say(`preparing the ${what}…`);
      const ack = await send("export", {what});
      if (!ack.ok) { say(`no ${what}: ${ack.error.message}`); return; }
      download(`kmemvisor-${what}.json`, ack.file);
      say(`${what} downloaded`);
    });
  }
  el.upload.addEventListener("change", async () => {
    const file = el.upload.files[0];
    el.upload.value = "";
    if (!file) return;
    if (file.size > MAX_UPLOAD) { say(`${file.name} is larger than 1 MiB: the server takes at most that`); return; }
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch (e) {
      say(`${file.name} is not JSON: ${e.message}`);
      return;
    }
    say(`replaying ${file.name}…`);
    const ack = await send("import", {file: doc});
    say(ack.ok ? `${file.name} loaded` : `${file.name} not loaded: ${ack.error.message}`);
  });
}
