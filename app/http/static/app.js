// SAGE-Health web page: plain JavaScript over the HTTP API (no build step).
// Every call carries the API key from this tab's sessionStorage; streams are read with fetch
// (EventSource cannot send headers) and parsed as Server-Sent Events.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("sage-key") || "", thread: newThread(), vocab: null, case: null };

function newThread() { return "web-" + Math.random().toString(36).slice(2, 12); }
function say(text) { $("status").textContent = text; }
function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v); }
  for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return node;
}

async function api(path, options = {}) {
  const headers = { "x-api-key": state.key, ...(options.body ? { "content-type": "application/json" } : {}) };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let err = { type: "HTTP " + response.status, message: response.statusText, hint: null };
    try { err = (await response.json()).error || err; } catch (_) { /* not JSON */ }
    throw new Error(`${err.message}${err.hint ? " — " + err.hint : ""}`);
  }
  return response;
}

async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) yield [event, JSON.parse(data)];
    }
  }
}

// A cited case id opens the de-identified case; runId (the run that cited it) goes with any feedback on it.
function citeButton(caseId, runId) { return el("button", { type: "button", class: "cite", onclick: () => showCase(caseId, runId), "aria-label": "Show case " + caseId }, caseId); }

async function showCase(caseId, runId) {
  const body = $("case-body"); body.replaceChildren("Loading…");
  $("feedback-form").hidden = true; $("fb-result").textContent = "";
  $("case-dialog").showModal();
  try {
    const c = await (await api("/api/cases/" + encodeURIComponent(caseId))).json();
    $("case-title").textContent = "Case " + c.case_id + " (de-identified)";
    body.replaceChildren(el("h3", {}, "Findings"), el("p", {}, c.findings), el("h3", {}, "Impression"), el("p", {}, c.impression),
      el("p", { class: "muted", id: "case-labels" }, labelText(c.labels)));
    state.case = { id: c.case_id, labels: c.labels, runId: runId || null };
    await fillFeedback(c.labels);
  } catch (e) { body.replaceChildren(e.message); }
}
function labelText(labels) { return "Labels: " + (Object.entries(labels).map(([f, s]) => `${f} ${s}`).join(", ") || "none stated"); }

// Feedback: correct one finding of the open case (POST /api/cases/{id}/feedback; the pack decides who may).
async function fillFeedback(labels) {
  if (!state.vocab) state.vocab = await (await fetch("/healthz")).json();
  $("fb-finding").replaceChildren(...state.vocab.findings.map((f) => el("option", { value: f }, `${f} (now ${labels[f] || "not stated"})`)));
  $("fb-state").replaceChildren(...state.vocab.states.map((s) => el("option", { value: s }, s)));
  $("feedback-form").hidden = false;
  offerChange();
}
// Propose a state other than the current one (old == new is no correction).
function offerChange() { const now = state.case && state.case.labels[$("fb-finding").value]; $("fb-state").value = state.vocab.states.find((s) => s !== now); }
$("fb-finding").addEventListener("change", offerChange);
$("feedback-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const c = state.case; if (!c) return;
  const finding = $("fb-finding").value, now = c.labels[finding];
  const body = { changes: [{ finding, old: state.vocab.states.includes(now) ? now : null, new: $("fb-state").value }], reason: $("fb-reason").value.trim(), run_id: c.runId };
  $("fb-result").textContent = "Sending…";
  try {
    const r = await (await api(`/api/cases/${encodeURIComponent(c.id)}/feedback`, { method: "POST", body: JSON.stringify(body) })).json();
    const proposals = r.proposals.length ? ` ${r.proposals.length} similar case(s) got a proposal.` : "";
    $("fb-result").textContent = `Feedback ${r.status}` + (r.label_version ? ` (label version ${r.label_version}).` : ".") + proposals + (r.reasons.length ? " " + r.reasons.join("; ") : "");
    if (r.status === "needs_review") $("fb-result").textContent += ` Held as ${r.event_id}: another user in a reviewer role approves it under Review queue → Label reviews.`;
    if (r.status === "applied") { c.labels = r.labels; $("case-labels").textContent = labelText(r.labels); await fillFeedback(r.labels); $("fb-finding").value = finding; }
  } catch (err) { $("fb-result").textContent = "Error: " + err.message; }
});

// Tabs: arrow keys move between them (WAI-ARIA tabs pattern).
const tabs = [...document.querySelectorAll("[role=tab]")];
function select(tab) {
  for (const t of tabs) { const on = t === tab; t.setAttribute("aria-selected", on); t.tabIndex = on ? 0 : -1; $(t.getAttribute("aria-controls")).hidden = !on; }
  tab.focus();
  if (tab.id === "tab-reviews") loadReviews();
}
tabs.forEach((t, i) => {
  t.addEventListener("click", () => select(t));
  t.addEventListener("keydown", (e) => { const d = { ArrowRight: 1, ArrowLeft: -1 }[e.key]; if (d) select(tabs[(i + d + tabs.length) % tabs.length]); });
});

$("key-form").addEventListener("submit", (e) => { e.preventDefault(); state.key = $("api-key").value.trim(); sessionStorage.setItem("sage-key", state.key); say("Key set."); });
$("api-key").value = state.key;

// Chat: deltas stream into the answer; cited case ids become buttons; the run links to its trace.
$("chat-thread").textContent = state.thread;
$("chat-new").addEventListener("click", () => { state.thread = newThread(); $("chat-thread").textContent = state.thread; $("chat-log").replaceChildren(); });
$("chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const message = $("chat-input").value.trim(); if (!message) return;
  $("chat-input").value = "";
  $("chat-log").append(el("div", { class: "msg you" }, "You: " + message));
  const answer = el("div", { class: "msg" }); $("chat-log").append(answer);
  say("Waiting for the agents…");
  try {
    const response = await api("/api/chat", { method: "POST", body: JSON.stringify({ message, thread_id: state.thread }) });
    for await (const [event, data] of sse(response)) {
      if (event === "status") say("Turn " + data.status + "…");
      else if (event === "delta") answer.append(data.text);
      else if (event === "result") {
        if (!answer.textContent) answer.append(data.text);
        const meta = el("div", { class: "meta" }, `task ${data.task} · ${data.status} `);
        if (data.evidence_ids.length) { meta.append("· evidence:"); data.evidence_ids.forEach((id) => meta.append(citeButton(id, data.run_id))); }
        if (data.run_id) meta.append(" · ", el("button", { type: "button", onclick: () => openTrace(data.run_id) }, "trace"));
        answer.after(meta);
      } else if (event === "error") answer.append("Error: " + data.message);
    }
    say("Done.");
  } catch (err) { answer.append("Error: " + err.message); say(err.message); }
});

// Report drafter: a report run, followed live; the draft, its evidence and review reasons beside it.
$("draft-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const findings = $("draft-findings").value.trim(), caseId = $("draft-case").value.trim();
  for (const id of ["draft-out", "draft-cases", "draft-reasons", "draft-corrections", "draft-steps"]) $(id).replaceChildren();
  say("Queued…");
  try {
    const job = await (await api("/api/runs", { method: "POST", body: JSON.stringify({ task: "report", input: caseId ? { findings, case_id: caseId } : { findings } }) })).json();
    let finished = false; // the run's last status event follows its result: keep the result's line
    for await (const [event, data] of sse(await api(`/api/runs/${job.id}/events`))) {
      if (event === "status") { if (!finished) say("Draft " + data.status + "…"); }
      else if (event === "span") $("draft-steps").append(el("li", {}, `${data.name} (${data.duration_ms.toFixed(0)} ms)`));
      else if (event === "result") { finished = true; showDraft(data); }
      else if (event === "error") { finished = true; $("draft-out").textContent = "Error: " + data.message; say(data.message); }
    }
  } catch (err) { $("draft-out").textContent = "Error: " + err.message; say(err.message); }
});
function showDraft(run) {
  const out = run.output || {};
  $("draft-out").textContent = out.impression || out.report || out.text || JSON.stringify(out, null, 2) || run.status;
  run.evidence_ids.forEach((id) => $("draft-cases").append(el("li", {}, citeButton(id, run.run_id))));
  const reasons = (run.review && run.review.reasons) || [];
  reasons.forEach((r) => $("draft-reasons").append(el("li", {}, r)));
  if (!reasons.length) $("draft-reasons").append(el("li", { class: "muted" }, run.status === "review" ? "waiting for review" : "none"));
  const corrected = Object.entries(out.corrected_labels || {});
  corrected.forEach(([finding, event]) => $("draft-corrections").append(el("li", {}, `${finding} ${(out.query_labels || {})[finding] || "not stated"} (correction ${event})`)));
  if (!corrected.length) $("draft-corrections").append(el("li", { class: "muted" }, "none"));
  say(`Run ${run.run_id} (thread ${run.thread_id}): ${run.status}.`);
}

// Trace: spans as a tree (parent → children) with a timeline bar per span.
async function openTrace(runId) { $("trace-run").value = runId; select($("tab-trace")); await loadTrace(runId); }
$("trace-form").addEventListener("submit", (e) => { e.preventDefault(); loadTrace($("trace-run").value.trim()); });
async function loadTrace(runId) {
  say("Loading trace…");
  try {
    const spans = await (await api("/api/traces/" + encodeURIComponent(runId))).json();
    const t0 = Math.min(...spans.map((s) => s.start_ns)), t1 = Math.max(...spans.map((s) => s.end_ns || s.start_ns));
    const kids = {}; const ids = new Set(spans.map((s) => s.span_id));
    for (const s of spans) (kids[ids.has(s.parent_id) ? s.parent_id : "root"] ||= []).push(s);
    const build = (parent) => el("ul", {}, ...(kids[parent] || []).map((s) => {
      const ms = ((s.end_ns - s.start_ns) / 1e6), effect = s.attributes["sage.policy.effect"], feedback = s.attributes["sage.feedback.event_ids"];
      const bar = el("div", { class: "bar", style: `margin-left:${(100 * (s.start_ns - t0)) / (t1 - t0 || 1)}%;width:${(100 * (s.end_ns - s.start_ns)) / (t1 - t0 || 1)}%` });
      return el("li", {}, el("div", { class: "span" }, el("span", {}, s.name, effect ? el("span", { class: effect === "deny" ? "deny" : "allow" }, " " + effect) : "", feedback ? el("span", { class: "fb-link", title: "clinician corrections behind the cited cases' labels" }, " feedback " + feedback.join(", ")) : ""), el("div", {}, bar), el("span", {}, ms.toFixed(1) + " ms")), build(s.span_id));
    }));
    $("trace-view").replaceChildren(build("root"));
    say(`${spans.length} spans.`);
  } catch (err) { $("trace-view").replaceChildren(err.message); say(err.message); }
}

// Review queue: approve, edit (corrected output as JSON) or reject each paused run.
$("reviews-refresh").addEventListener("click", loadReviews);
async function loadReviews() {
  say("Loading reviews…");
  try {
    const runs = await (await api("/api/reviews")).json();
    $("reviews-list").replaceChildren(...runs.map(reviewCard));
    if (!runs.length) $("reviews-list").append(el("p", { class: "muted" }, "No runs wait for review."));
    say(`${runs.length} waiting.`);
  } catch (err) { $("reviews-list").replaceChildren(err.message); say(err.message); }
  await loadLabelReviews();
}

// Label reviews: corrections held for a second reviewer and queued proposals (GET /api/feedback/pending).
async function loadLabelReviews() {
  try {
    const p = await (await api("/api/feedback/pending")).json();
    const cards = [...p.corrections.map(correctionCard), ...p.proposals.map(proposalCard)];
    $("label-reviews").replaceChildren(...cards);
    if (!cards.length) $("label-reviews").append(el("p", { class: "muted" }, "No label corrections or proposals wait for review."));
  } catch (err) { $("label-reviews").replaceChildren(el("p", { class: "muted" }, err.message)); }
}
function changeText(changes) { return changes.map((c) => `${c.finding}: ${c.old ?? "not stated"} → ${c.new}`).join(", "); }
function labelDecision(id) {
  const note = el("input", { id: "lnote-" + id, maxlength: "2000" });
  const decide = async (action) => {
    try {
      const o = await (await api(`/api/feedback/${encodeURIComponent(id)}/decision`, { method: "POST", body: JSON.stringify({ action, note: note.value }) })).json();
      say(`${o.kind} ${o.item_id} on ${o.case_id}: ${o.approved ? "approved" : "rejected"}` + (o.label_version ? ` (label version ${o.label_version}).` : "."));
      await loadLabelReviews();
    } catch (err) { say(err.message); }
  };
  return [el("label", { for: note.id }, "Note"), note,
    el("div", { class: "row" }, el("button", { type: "button", onclick: () => decide("approve"), "aria-label": "Approve " + id }, "Approve"),
      el("button", { type: "button", onclick: () => decide("reject"), "aria-label": "Reject " + id }, "Reject"))];
}
function correctionCard(c) {
  return el("article", { class: "review", "aria-label": "Correction " + c.event_id },
    el("h3", {}, `Correction · ${c.event_id}`), el("p", {}, "Case: ", citeButton(c.case_id, c.run_id), ` ${changeText(c.changes)} (by ${c.user}, ${c.role})`),
    el("p", {}, "Why review: " + (c.why.join("; ") || "-")), el("p", {}, "Reason: " + c.reason), ...labelDecision(c.event_id));
}
function proposalCard(p) {
  return el("article", { class: "review", "aria-label": "Proposal " + p.proposal_id },
    el("h3", {}, `Proposal · ${p.proposal_id}`), el("p", {}, "Case: ", citeButton(p.case_id), ` ${changeText([p])} (from correction ${p.event_id})`),
    el("p", {}, `Similarity ${p.similarity.toFixed(2)}, confidence ${p.confidence.toFixed(2)}: ` + (p.supporting_sentence || p.support)), ...labelDecision(p.proposal_id));
}
function reviewCard(run) {
  const id = run.thread_id, note = el("textarea", { id: "note-" + id, rows: 2 }), edit = el("textarea", { id: "edit-" + id, rows: 4 });
  edit.value = JSON.stringify(run.output || {}, null, 2);
  const answer = async (action) => {
    const body = { action, note: note.value };
    if (action === "edit") { try { body.output = JSON.parse(edit.value); } catch (_) { say("The edited output is not valid JSON."); return; } }
    try { const done = await (await api("/api/reviews/" + encodeURIComponent(id), { method: "POST", body: JSON.stringify(body) })).json(); await loadReviews(); say(`Run ${done.run_id} (thread ${id}): ${done.status}.`); }
    catch (err) { say(err.message); }
  };
  return el("article", { class: "review", "aria-label": "Review " + id },
    el("h3", {}, `${run.task} · ${id}`), el("p", {}, "Why: " + ((run.review && run.review.reasons) || []).join("; ")),
    el("label", { for: edit.id }, "Output (edit as JSON)"), edit, el("label", { for: note.id }, "Note"), note,
    el("div", { class: "row" }, el("button", { type: "button", onclick: () => answer("approve") }, "Approve"),
      el("button", { type: "button", onclick: () => answer("edit") }, "Save edit"), el("button", { type: "button", onclick: () => answer("reject") }, "Reject")),
    el("p", {}, "Evidence: ", ...run.evidence_ids.map((c) => citeButton(c, run.run_id))));
}
