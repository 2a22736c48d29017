// The lesson panel of a classroom: narrative, checkpoints, quiz; the instructor's
// lesson controls and roster; a student's fork/follow. The server decides who may do
// what; this only shows the right buttons.

import {esc} from "./format.js";

const CODE = document.body.dataset.classroom || "";
const params = new URLSearchParams(location.search);

export function createClassroom(root, {send, onProblem, reconnect}) {
  const active = Boolean(CODE);
  let role = null;
  let following = true;
  let state = null;
  const studentKey = `kmemvisor.student.${CODE}`;
  if (!active) return {active};

  const $ = (sel) => root.querySelector(sel);
  const joinForm = document.getElementById("join-form");
  joinForm.addEventListener("submit", (e) => {
    e.preventDefault();
    joinForm.hidden = true;
    reconnect();
  });

  function greeting() {
    if (params.get("key")) return {classroom: CODE, key: params.get("key")};
    const student = localStorage.getItem(studentKey);
    if (student) return {classroom: CODE, student};
    const name = document.getElementById("join-name").value.trim();
    if (!name) { joinForm.hidden = false; document.getElementById("join-name").focus(); return null; }
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
    following = true;
    $("#lesson-who").textContent = role === "instructor" ? "You are the instructor"
      : `You are ${ack.name}`;
    draw();
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
    if (name === "answer") return act("answer", {choice: Number(b.dataset.choice)});
    if (name === "goto") return act("goto", {position: state.position - 1});
    const ack = await act(name);
    if (ack.ok && "following" in ack) { following = ack.following; draw(); }
  });

  function update(s) {
    state = s;
    draw();
  }

  function draw() {
    if (!state) return;
    const lesson = state.lesson;
    const step = state.position >= 0 ? lesson.steps[state.position] : null;
    document.body.dataset.following = String(following);
    $("#lesson-title").textContent = lesson.title;
    $("#lesson-progress").textContent = step ? `step ${state.position + 1} of ${lesson.steps.length}`
      : `introduction · ${lesson.steps.length} steps`;
    $("#lesson-code").textContent = state.code;
    $("#lesson-students").textContent = `${state.students} student${state.students === 1 ? "" : "s"}`;
    // narrative HTML was rendered and sanitized by the server (markdown-it + nh3)
    $("#lesson-body").innerHTML = step ? `<h3>${esc(step.title)}</h3>${step.html}`
      : `<ul class="goals">${lesson.goals.map((g) => `<li>${esc(g)}</li>`).join("")}</ul>${lesson.intro}`;
    $("#lesson-actions").textContent = step && step.actions.length ? "Actions: " + step.actions.join(" · ") : "";
    $("#lesson-checks").innerHTML = state.checks.map((c) =>
      `<li class="${c.ok ? "pass" : "fail"}">${c.ok ? "✓" : "✗"} ${esc(c.text)} <span class="muted">— ${esc(c.seen)}</span></li>`).join("");
    drawQuiz();
    if (step && step.focus) focusPanel(step.focus);
    const instructor = role === "instructor";
    $("#teach-controls").hidden = !instructor;
    $("#student-controls").hidden = role !== "student";
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

  function drawQuiz() {
    const q = state.quiz;
    const box = $("#quiz");
    if (!q) { box.hidden = true; return; }
    box.hidden = false;
    const reveal = !q.open;
    box.innerHTML = `<h3>Quiz${reveal ? " — answer" : ""}</h3><p>${esc(q.question)}</p><ol class="choices">` +
      q.choices.map((c, i) => {
        const right = reveal && i === q.answer;
        const count = reveal && q.tally ? ` <span class="muted">(${q.tally[i]})</span>` : "";
        const button = q.open && role === "student"
          ? `<button data-act="answer" data-choice="${i}">${esc(c)}</button>` : esc(c);
        return `<li class="${right ? "right" : ""}">${right ? "✓ " : ""}${button}${count}</li>`;
      }).join("") + "</ol>" + (reveal && q.explain ? `<p class="explain">${esc(q.explain)}</p>` : "");
  }

  function focusPanel(name) {
    const panel = document.querySelector(`[data-panel="${name}"]`);
    document.querySelectorAll(".panel.focused").forEach((p) => p.classList.remove("focused"));
    if (panel) panel.classList.add("focused");
  }

  function roster(r) {
    $("#roster").innerHTML = `<b>Students:</b> ${r.names.map(esc).join(", ") || "none yet"}` +
      (r.forked.length ? `<br><b>On their own copy:</b> ${r.forked.map(esc).join(", ")}` : "") +
      (r.tally ? `<br><b>Answers so far:</b> ${r.tally.map((n, i) => `${i + 1}: ${n}`).join(" · ")}` : "");
  }

  return {active, greeting, welcome, update, roster};
}
