// Copy buttons for the links on the "event ready" page. The Clipboard API needs a secure context
// (HTTPS or localhost), and a laptop serving the venue's wifi over plain HTTP is neither: there
// the link's text is selected and copied the older way, or left selected for the person to copy.

const section = document.querySelector("[data-copied]");
const status = section?.querySelector(".copy-status");

function select(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copy(node) {
  const text = node.textContent.trim();
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // refused (no permission): fall back below
    }
  }
  select(node);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

if (section) {
  for (const button of section.querySelectorAll("[data-copy]")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const done = await copy(target);
      status.textContent = done ? section.dataset.copied : section.dataset.copyFailed;
      if (!done) select(target);
    });
  }
}
