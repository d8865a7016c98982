// The report page stays a plain form (long texts, merging and both-texts display are the
// server's work). This script makes sure no word is lost on the way:
// - it says at once when someone else saves meanwhile;
// - it keeps what is typed on the phone (localStorage) so a reload or a crash loses nothing;
// - a save while offline is held, marked "not sent yet", and sent once the connection is back.
//   The form carries its own action id, so a repeated send is applied once.
// It also says at once when more photos, or larger ones, are chosen than the server takes,
// instead of after a long upload over the venue's wifi.
import { Live, pageData } from "./live.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const section = document.querySelector("[data-report]");
const form = document.getElementById("report-form");
const notice = document.querySelector("[data-newer]");
const status = document.querySelector("[data-draft]");
const seen = Number(section.dataset.revision);
const key = `openspace-draft-${data.slug}-${section.dataset.report}`;
const FIELDS = ["participants", "discussion", "insights", "recommendations"];

// The banner, the saved text, the photos and the versions are regions the server renders
// (regions.js), so announcements reach people while they write; the form is never one.
new Regions(live, data);
live.addEventListener("change", () => {
  const report = live.state.reports.get(section.dataset.report);
  if (notice && report && report.revision > seen) notice.hidden = false;
});

function read() {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function write(draft) {
  try {
    if (draft) localStorage.setItem(key, JSON.stringify(draft));
    else localStorage.removeItem(key);
  } catch {
    // storage full or private mode: the form itself still holds the text
  }
}

function current(queued) {
  const texts = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f].value]));
  return { texts, base: form.elements.base.value, actionId: form.elements._action_id.value, queued };
}

function say(text) {
  if (status) {
    status.hidden = !text;
    status.textContent = text;
  }
}

function send() {
  write({ ...current(true), queued: false, sent: true });
  form.submit(); // a real post: the server merges, or shows both texts on a clash
}

if (form) {
  const draft = read();
  const same = draft && FIELDS.every((f) => draft.texts[f] === form.elements[f].value);
  // It reached the server if the page shows it, or if the report moved past the version the
  // draft started from after it was sent (a merge changes the text, so "same" is not enough).
  if (draft && (same || (draft.sent && seen > Number(draft.base)))) {
    write(null);
  } else if (draft) {
    for (const f of FIELDS) form.elements[f].value = draft.texts[f];
    form.elements.base.value = draft.base;
    if (draft.actionId) form.elements._action_id.value = draft.actionId;
    say(draft.queued ? data.i18n.queued : data.i18n.restored);
    if (draft.sent) write({ ...draft, sent: false, queued: false }); // the send never arrived: keep it
    if (draft.queued && navigator.onLine) send();
  }
  form.addEventListener("input", () => write(current(false)));
  form.addEventListener("submit", (event) => {
    if (event.submitter && event.submitter.name === "_preview") return;
    if (!navigator.onLine || !live.online) {
      event.preventDefault(); // nowhere to send it now: hold it, and say so
      write(current(true));
      say(data.i18n.queued);
      return;
    }
    write({ ...current(false), sent: true });
  });
  const resend = () => {
    const held = read();
    if (held?.queued && navigator.onLine && live.online) send();
  };
  window.addEventListener("online", resend);
  setInterval(resend, 3000); // the socket can come back while the browser never went "offline"
}
const picker = document.querySelector("[data-upload] input[type=file]");
if (picker) {
  const problem = document.querySelector("[data-upload-error]");
  picker.addEventListener("change", () => {
    const chosen = [...picker.files];
    let text = "";
    if (chosen.length > Number(picker.dataset.maxFiles)) text = picker.dataset.tooMany;
    else if (chosen.some((file) => file.size > Number(picker.dataset.maxBytes))) text = picker.dataset.tooLarge;
    picker.setCustomValidity(text); // the browser then refuses to send the form
    if (problem) {
      problem.textContent = text;
      problem.hidden = !text;
    }
  });
}
live.connect();
