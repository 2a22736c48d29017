// The lesson drawer of a classroom: narrative, checkpoints, quiz; the instructor's
// lesson controls and roster; a student's fork/follow. The server decides who may do
// what; this shows the right buttons and tells the page whether it is following.

import {esc, escInline} from "./format.js";
import {keepInView} from "./scroll.js";

const CODE = document.body.dataset.classroom || "";
const params = new URLSearchParams(location.search);

export function createClassroom(root, {send, onProblem, reconnect, onChange, focusPanel}) {
  const active = Boolean(CODE);
  let role = null;
  let following = true;
  let state = null;
  let shownPosition = null;
  let tally = null;  // the open quiz's answers so far (the instructor's roster brings them)
  let shownForked = false;
  let shownQuiz = null;     // the quiz (step, open or revealed) last brought into view
  let mine = null;          // a forked student's checkpoints, verified on the fork
  let recheck = null;
  const studentKey = `kmemvisor.student.${CODE}`;
  const answerKey = (step) => `kmemvisor.answer.${CODE}.${step}`;
  if (!active) return {active, following: () => false, toggle() {}, sessionChanged() {}};

  const $ = (sel) => root.querySelector(sel);
  const joinForm = document.getElementById("join-form");
  const toggleButton = document.getElementById("lesson-toggle");
  joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    joinForm.hidden = true;
    reconnect();
  });
  function toggle(open = root.classList.contains("collapsed")) {
    root.classList.toggle("collapsed", !open);
    $("#lesson-inner").hidden = !open;
    toggleButton.setAttribute("aria-expanded", String(open));
    toggleButton.textContent = open ? "Lesson ◂" : "Lesson ▸";
  }
  toggleButton.addEventListener("click", () => toggle());

  function greeting() {
    if (params.get("key")) return {classroom: CODE, key: params.get("key")};
    const student = localStorage.getItem(studentKey);
    if (student) return {classroom: CODE, student};
    const name = document.getElementById("join-name").value.trim();
    if (!name) {
      toggle(true);
      joinForm.hidden = false;
      document.getElementById("join-name").focus();
      return null;
    }
    return {classroom: CODE, name};
  }

  function welcome(ack) {
    if (!ack.ok) {
      if (localStorage.getItem(studentKey)) localStorage.removeItem(studentKey);
      onProblem(ack.error.message);
      return;
    }
    role = ack.role;
    if (ack.student) localStorage.setItem(studentKey, ack.student);
    document.body.dataset.role = role;
    following = ack.following !== false;   // a student coming back to a fork is on it
    $("#lesson-who").textContent = role === "instructor" ? "You are the instructor"
      : `You are ${ack.name}`;
    draw();
    onChange();
    sessionChanged();
  }

  async function act(command, payload = {}) {
    const ack = await send(command, payload);
    if (!ack.ok) onProblem(ack.error.message);
    return ack;
  }
  root.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const name = b.dataset.act;
    if (name === "answer") {
      const choice = Number(b.dataset.choice);
      const ack = await act("answer", {choice});
      if (ack.ok) {   // kept in this browser: the server reveals only the tally
        localStorage.setItem(answerKey(state.quiz.step), String(choice));
        drawQuiz();
      }
      return;
    }
    if (name === "goto") return act("goto", {position: state.position - 1});
    if (name === "end" && !confirm("End this classroom for everyone? Students keep what " +
                                   "they forked; the join code stops working.")) return;
    const ack = await act(name);
    if (ack.ok && "following" in ack) {
      following = ack.following;
      mine = null;
      draw();
      onChange();
      sessionChanged();
    }
  });

  function update(s) {
    state = s;
    draw();
    sessionChanged();
  }

  // on a fork the checkpoints describe the fork: asked again (once things settle)
  // after anything changes it, or the lesson's step
  function sessionChanged() {
    if (role !== "student" || following || !state || state.position < 0) { mine = null; return; }
    clearTimeout(recheck);
    recheck = setTimeout(async () => {
      const ack = await send("checks");
      if (ack.ok) { mine = ack; draw(); }
    }, 250);
  }

  function draw() {
    if (!state) return;
    const lesson = state.lesson;
    const step = state.position >= 0 ? lesson.steps[state.position] : null;
    document.body.dataset.following = String(following && !state.ended);
    $("#lesson-title").textContent = lesson.title;
    $("#lesson-progress").textContent = step ? `step ${state.position + 1} of ${lesson.steps.length}`
      : `introduction · ${lesson.steps.length} steps`;
    $("#lesson-code").textContent = state.code;
    // the instructor counts the roster (kept current); a student sees no count
    $("#lesson-students").hidden = role !== "instructor";
    // narrative HTML was rendered and sanitized by the server (markdown-it + nh3)
    $("#lesson-body").innerHTML = step ? `<h3>${esc(step.title)}</h3>${step.html}`
      : `<ul class="goals">${lesson.goals.map((g) => `<li>${esc(g)}</li>`).join("")}</ul>${lesson.intro}`;
    $("#lesson-actions").textContent = step && step.actions.length ? "Actions: " + step.actions.join(" · ") : "";
    const forked = role === "student" && !following;
    const own = forked && mine && mine.position === state.position;
    const checks = own ? mine.checks : forked ? [] : state.checks;
    $("#lesson-checks").innerHTML = (forked && step && step.checks.length
      ? `<li class="muted">${own ? "On your own copy:" : "Checking your own copy…"}</li>` : "") +
      checks.map((c) =>
        // what the engine saw, where it adds to the checkpoint's own words
        `<li class="${c.ok ? "pass" : "fail"}">${c.ok ? "✓ passed:" : "✗ not yet:"} ${esc(c.text)}` +
        `${c.seen && c.seen !== c.text ? ` <span class="muted">— ${esc(c.seen)}</span>` : ""}</li>`).join("");
    drawQuiz();
    // the step's panel is brought forward for whoever follows it (a forked student's
    // own view stays where it is, and comes back to the class's on following again)
    if (shownPosition !== state.position || shownForked !== forked) {
      const stepChanged = shownPosition !== state.position;
      shownPosition = state.position;
      shownForked = forked;
      focusPanel(!forked && step && step.focus ? step.focus : null, stepChanged);
    }
    const instructor = role === "instructor" && !state.ended;
    // the bar's note: a student who still follows an ended class follows nobody
    document.getElementById("follow-live").hidden = Boolean(state.ended);
    document.getElementById("follow-ended").hidden = !state.ended;
    $("#lesson-ended").hidden = !state.ended;
    $("#lesson-ended").innerHTML = state.ended
      ? `This classroom has ended: ${esc(state.ended)}. What is on the screen stays as it was. ` +
        `<a href="/">Open a session of your own</a> to go on.` : "";
    $("#teach-controls").hidden = !instructor;
    $("#student-controls").hidden = role !== "student" || Boolean(state.ended);
    $("[data-act=fork]").hidden = !following;
    $("[data-act=follow]").hidden = following;
    $("[data-act=quiz_open]").disabled = !step || !step.quiz || (state.quiz && state.quiz.open);
    $("[data-act=quiz_close]").disabled = !(state.quiz && state.quiz.open);
    $("[data-act=advance]").disabled = state.position + 1 >= lesson.steps.length;
    $("[data-act=goto]").disabled = state.position < 0;
    if (instructor) {
      $("#lesson-link").textContent = `${location.origin}/class/${state.code}`;
    }
  }

  const answered = (t) => { const n = t.reduce((a, b) => a + b, 0); return `${n} answer${n === 1 ? "" : "s"}`; };
  function drawQuiz() {
    const q = state.quiz;
    const box = $("#quiz");
    if (!q) { box.hidden = true; return; }
    box.hidden = false;
    const reveal = !q.open;
    const stored = role === "student" ? localStorage.getItem(answerKey(q.step)) : null;
    const mine = stored === null ? null : Number(stored);
    const letter = (i) => String.fromCharCode(65 + i);
    box.innerHTML = `<h3>Quiz${reveal ? " — answer" : ""}</h3><p>${escInline(q.question)}</p><ol class="choices" type="A">` +
      q.choices.map((c, i) => {
        const right = reveal && i === q.answer;
        const own = i === mine;
        const count = reveal && q.tally ? ` <span class="muted">(${q.tally[i]})</span>` : "";
        const button = q.open && role === "student"
          ? `<button data-act="answer" data-choice="${i}" aria-pressed="${own}">${escInline(c)}</button>` : escInline(c);
        const tag = own ? ` <b class="mine-tag">◀ your answer${reveal ? (right ? " — right" : " — not this one") : ""}</b>` : "";
        return `<li class="${right ? "right" : ""}${own ? " mine" : ""}">${right ? "✓ " : ""}${button}${count}${tag}</li>`;
      }).join("") + "</ol>" +
      (q.open && mine !== null ? `<p class="quiz-ack" role="status">Answer ${letter(mine)} recorded. You can change it until the quiz closes.</p>` : "") +
      // the instructor sees how many have answered where the quiz is, not only in the roster
      (q.open && role === "instructor" && tally ? `<p class="muted quiz-count">${answered(tally)} so far</p>` : "") +
      (reveal && q.explain ? `<p class="explain">${escInline(q.explain)}</p>` : "");
    // a quiz that opens, or is revealed, is brought into the drawer's view (it comes
    // last in the drawer, often below its fold), the drawer opened if it was closed
    const now = `${q.step}:${q.open}`;
    if (now !== shownQuiz) {
      shownQuiz = now;
      if (root.classList.contains("collapsed")) toggle(true);
      keepInView(root, box);
    }
  }

  function roster(r) {
    tally = r.tally || null;
    if (state && state.quiz && state.quiz.open) drawQuiz();  // its count of answers
    $("#lesson-students").textContent = `${r.names.length} student${r.names.length === 1 ? "" : "s"}`;
    $("#roster").innerHTML = `<b>Students:</b> ${r.names.map(esc).join(", ") || "none yet"}` +
      (r.forked.length ? `<br><b>On their own copy:</b> ${r.forked.map(esc).join(", ")}` : "") +
      (r.tally ? `<br><b>Answers so far:</b> ${r.tally.map((n, i) => `${String.fromCharCode(65 + i)}: ${n}`).join(" · ")}` : "");
  }

  return {
    active, greeting, welcome, update, roster, toggle, sessionChanged,
    following: () => role === "student" && following,
    get position() { return state ? state.position : null; },
  };
}
