// Sends every form marked data-action through the live connection instead of a page load.
// The same forms post to the form endpoint without JavaScript. What the person typed stays in the
// form until the server has accepted it; a refusal is shown next to the form, translated, and
// stays there (data-keep: a live refresh never removes it) until the person sends the form again.

// The fields that steer the no-JavaScript post start with "_" (the action's name, the page to go
// back to, the anchor, the action's id: live.send gives every send its own id), so none of them
// can take an argument's name (#19); the rest, but csrf, are the action's arguments.
const steers = (key) => key === "csrf" || key.startsWith("_");

function statusOf(form) {
  let node = form.querySelector(".form-status");
  if (!node) {
    node = document.createElement("p");
    node.className = "form-status";
    node.setAttribute("role", "status");
    node.setAttribute("aria-live", "polite");
    form.append(node);
  }
  node.setAttribute("data-keep", "");
  return node;
}

function showError(form, error) {
  const status = statusOf(form);
  status.textContent = error.message;
  status.classList.add("is-error");
  for (const n of form.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
  const field = error.field && form.elements.namedItem(error.field);
  if (field?.focus) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

export function enhanceForms(root, live, { onDone, onError } = {}) {
  root.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.action) return;
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const args = {};
    for (const [key, value] of new FormData(form, event.submitter)) {
      if (!steers(key) && typeof value === "string") args[key] = value;
    }
    const status = statusOf(form);
    status.classList.remove("is-error");
    const sent = live.send(form.dataset.action, args);
    status.textContent = sent.queued ? live.t.queued : "";
    form.setAttribute("aria-busy", "true");
    sent.promise.then(
      (result) => {
        form.removeAttribute("aria-busy");
        status.textContent = live.t.sent;
        for (const n of form.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
        if (form.dataset.reset !== undefined) {
          form.reset();
          form.querySelectorAll("input:not([type=hidden]), textarea").forEach((n) => { n.value = ""; });
          form.dataset.dirty = "";
        }
        if (form.dataset.done) window.location.assign(form.dataset.done);
        if (onDone) onDone(form, result);
      },
      (error) => {
        form.removeAttribute("aria-busy");
        if (onError && onError(form, error) === false) return; // the page shows it elsewhere
        showError(form, error);
      },
    );
  });
  // Remember which forms hold unsent typing, so a live refresh never throws it away.
  root.addEventListener("input", (event) => {
    const form = event.target.form;
    if (form) form.dataset.dirty = "1";
  });
}
