// The report page: its texts are written together, live (cowrite.js, issue #16): everyone
// viewing it types in any field at once, sees the others' text arrive and who writes where, and
// what is typed offline stays on the phone until the server has it. Without JavaScript the form
// posts whole texts and the server merges them. This script also says at once when more photos,
// or larger ones, are chosen than the server takes, instead of after a long upload.
import { Live, pageData } from "./live.js";
import { Cowrite } from "./cowrite.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const section = document.querySelector("[data-report]");
const form = document.getElementById("report-form");
const status = document.querySelector("[data-draft]");
const FIELDS = ["participants", "discussion", "insights", "recommendations"];

// The banner, the saved text, the photos and the versions are regions the server renders
// (regions.js), so announcements and others' saves reach people while they write. The form is
// never one: its fields are the shared document's, kept by cowrite.js, and no morph touches them.
new Regions(live, data);

if (form && form.dataset.doc !== undefined) {
  const fields = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f]]));
  const cowrite = new Cowrite(live, {
    slug: data.slug,
    topic: section.dataset.report,
    state: form.dataset.doc,
    rseq: Number(form.dataset.rseq),
    fields,
    t: data.i18n,
    status,
  });
  form.addEventListener("submit", (event) => {
    // Everything is saved as it is typed: "Save the report" only waits until the server has it
    // all, then shows the report as saved. Offline it says so and keeps waiting. "Preview" posts.
    if (event.submitter && event.submitter.name === "_preview") return;
    event.preventDefault();
    cowrite.whenSaved().then(() => location.reload());
  });
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
