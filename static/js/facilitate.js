// The facilitator's board is rendered by the server (templates/_facilitate_board.html). On every
// live change this page fetches that fragment again and swaps it in, keeping any form the
// facilitator is typing in and the keyboard focus. Drag and drop, and the keyboard's
// "Move" then "Place here", both send topic.place through the live connection.

import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";

const data = pageData();
const live = new Live(data);
const board = document.getElementById("board");
let pick = null;
let timer = null;
let dragging = false;

function focusKey(node) {
  if (!node || !board.contains(node)) return null;
  if (node.id) return `#${CSS.escape(node.id)}`;
  const form = node.closest("form[id]");
  if (form && node.name) return `#${CSS.escape(form.id)} [name="${CSS.escape(node.name)}"]`;
  const card = node.closest("[data-topic]");
  if (card && node.dataset.pick !== undefined) return `[data-pick="${CSS.escape(card.dataset.topic)}"]`;
  return null;
}

async function refresh({ focus = null } = {}) {
  if (dragging) return;
  const url = `${board.dataset.fragment}${pick ? `&pick=${encodeURIComponent(pick)}` : ""}`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;
  const html = await response.text();
  const key = focus || focusKey(document.activeElement);
  const dirty = [...board.querySelectorAll("form[id][data-dirty='1']")];
  const next = document.createElement("div");
  next.innerHTML = html;
  for (const form of dirty) {
    const fresh = next.querySelector(`#${CSS.escape(form.id)}`);
    if (fresh) fresh.replaceWith(form);
  }
  board.replaceChildren(...next.childNodes);
  const target = key && board.querySelector(key);
  if (target) target.focus();
}

function scheduleRefresh() {
  clearTimeout(timer);
  timer = setTimeout(() => refresh(), 60);
}

live.addEventListener("change", scheduleRefresh);
enhanceForms(board, live, {
  onDone(form) {
    if (form.dataset.action === "topic.place") {
      pick = null;
      refresh({ focus: `[data-pick="${CSS.escape(form.elements.topic.value)}"]` });
    }
  },
});

board.addEventListener("click", (event) => {
  const link = event.target.closest("[data-pick], [data-pick-cancel]");
  if (!link) return;
  event.preventDefault();
  pick = link.dataset.pick || null;
  refresh({ focus: pick ? "button.place" : `[data-pick]` });
});

board.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && pick) {
    const topic = pick;
    pick = null;
    refresh({ focus: `[data-pick="${CSS.escape(topic)}"]` });
  }
});

// Drag and drop, for the mouse. The drop target says what it held when the facilitator let go,
// so a cell someone else filled a moment earlier is refused instead of overwritten.
board.addEventListener("dragstart", (event) => {
  const card = event.target.closest?.("[data-topic]");
  if (!card) return;
  dragging = true;
  event.dataTransfer.setData("text/plain", card.dataset.topic);
  event.dataTransfer.effectAllowed = "move";
  board.dataset.dragTopic = card.dataset.topic;
  board.dataset.dragVersion = card.dataset.version;
});
board.addEventListener("dragend", () => {
  dragging = false;
  board.querySelectorAll(".drop-over").forEach((n) => n.classList.remove("drop-over"));
  scheduleRefresh();
});
board.addEventListener("dragover", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (!target) return;
  event.preventDefault();
  target.classList.add("drop-over");
});
board.addEventListener("dragleave", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (target) target.classList.remove("drop-over");
});
board.addEventListener("drop", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (!target) return;
  event.preventDefault();
  dragging = false;
  const topic = board.dataset.dragTopic;
  const version = board.dataset.dragVersion;
  const sent = target.matches("[data-tray]")
    ? live.send("topic.unplace", { topic, version })
    : live.send("topic.place", {
      topic, version, slot: target.dataset.slot, space: target.dataset.space, swap_with: target.dataset.occupant,
    });
  sent.promise.catch((error) => announce(error.message));
  scheduleRefresh();
});

function announce(message) {
  let node = document.getElementById("board-alert");
  if (!node) {
    node = document.createElement("div");
    node.id = "board-alert";
    node.className = "alert";
    node.setAttribute("role", "alert");
    board.before(node);
  }
  node.textContent = message;
}

live.connect();
